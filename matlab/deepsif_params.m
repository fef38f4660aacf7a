function p = deepsif_params()
%DEEPSIF_PARAMS Parameters of the DeepSIF science for steps 2 and 4.
%   P = DEEPSIF_PARAMS() returns a struct read from deepsif_pipeline/science/science.json,
%   the one home of the parameters (deepsif_pipeline/science/__init__.py reads it too),
%   where each has its meaning and unit. P holds the value of every entry of
%   the sections step2 and step4, and mean_iterations of the section step1:
%   scalars as scalars, vectors as rows, a group of entries (modes.test,
%   modes.train) as a struct. Not step2's target_snr_db: it is the default
%   of the Python side's --target-snr, which reaches step 2 in its job.
%   Sample counts are at the downsampled rate of 500 Hz unless stated
%   otherwise. Values are the published ones (Sun et al., PNAS 2022, DeepSIF
%   forward/ scripts).
repo = fileparts(fileparts(mfilename('fullpath')));
file = fullfile(repo, 'deepsif_pipeline', 'science', 'science.json');
if exist(file, 'file') ~= 2
    error('deepsif_params:missing', 'deepsif_params: parameter file %s not found', file);
end
data = jsondecode(fileread(file));
p = add_entries(struct(), rmfield(data.step2, 'target_snr_db'));
p.mean_iterations = entry_value(data.step1.mean_iterations);
p = add_entries(p, data.step4);
end

function p = add_entries(p, group)
% P with one field per entry or group of GROUP, set to its value.
names = fieldnames(group);
for i = 1:numel(names)
    if isfield(p, names{i})
        error('deepsif_params:duplicate', 'deepsif_params: %s is defined twice', names{i});
    end
    p.(names{i}) = entry_value(group.(names{i}));
end
end

function v = entry_value(node)
% The value of an entry (a row when a vector: jsondecode gives columns), or
% a struct of the values of a group of entries.
if isfield(node, 'value')
    v = node.value;
    if isnumeric(v) && ~isscalar(v)
        v = reshape(v, 1, []);
    end
else
    v = add_entries(struct(), node);
end
end

function [data, time] = load_raw_iteration(files, p)
%LOAD_RAW_ITERATION Join, trim and downsample the raw pieces of one mean iteration.
%   [DATA, TIME] = LOAD_RAW_ITERATION(FILES, P) follows step 2, items 1-2:
%   the pieces FILES (in time order, as the job lists them) are
%   joined, the first P.transient_samples raw
%   samples are dropped, and every P.downsample_factor-th sample is kept
%   starting with the first one left (DOWNSAMPLE(x, 4) without the signal
%   package). The selection is done piece by piece on the global sample
%   index, so memory holds only the downsampled signal. A piece written
%   with step 1's --raw-rate decimated holds only the samples kept here:
%   its `sample_index` gives their global indices and `raw_steps` the
%   samples it covers, and the same rule selects all of its rows.
%
%   Inputs
%       FILES : cell of char, full paths of the raw pieces in time order
%               (the job lists them; no name is built here).
%       P     : struct from DEEPSIF_PARAMS.
%   Outputs
%       DATA : T x C double, y1 - y2 (mV), time x connectivity columns.
%       TIME : T x 1 double, the matching entries of the pieces' `time`
%              (empty when the pieces have no `time`).
files = cellstr(files);
if isempty(files)
    error('load_raw_iteration:none', 'no raw pieces given');
end
parts = cell(numel(files), 1);
times = cell(numel(files), 1);
offset = 0;
for i = 1:numel(files)
    if exist(files{i}, 'file') ~= 2
        error('load_raw_iteration:missing', 'raw piece %s is missing', files{i});
    end
    piece = load(files{i});
    if ~isfield(piece, 'data')
        error('load_raw_iteration:noData', 'raw piece %s has no variable data', files{i});
    end
    if i > 1 && size(piece.data, 2) ~= size(parts{1}, 2)
        error('load_raw_iteration:columns', 'raw piece %s has %d columns, the first has %d', ...
              files{i}, size(piece.data, 2), size(parts{1}, 2));
    end
    n_rows = size(piece.data, 1);
    if isfield(piece, 'sample_index')
        g = double(piece.sample_index(:));
        if numel(g) ~= n_rows || ~isfield(piece, 'raw_steps')
            error('load_raw_iteration:index', ...
                  'raw piece %s: sample_index has %d entries for %d rows, or no raw_steps', ...
                  files{i}, numel(g), n_rows);
        end
        n_covered = double(piece.raw_steps);
        if any(g <= offset | g > offset + n_covered)
            error('load_raw_iteration:index', ...
                  'raw piece %s: sample_index outside its samples %d..%d (a piece missing?)', ...
                  files{i}, offset + 1, offset + n_covered);
        end
    else
        g = offset + (1:n_rows)';
        n_covered = n_rows;
    end
    take = g > p.transient_samples & ...
        mod(g - p.transient_samples - 1, p.downsample_factor) == 0;
    parts{i} = double(piece.data(take, :));
    if isfield(piece, 'time') && numel(piece.time) == size(piece.data, 1)
        t = double(piece.time(:));
        times{i} = t(take);
    end
    offset = offset + n_covered;
end
data = vertcat(parts{:});
time = vertcat(times{:});
if isempty(data)
    error('load_raw_iteration:short', 'raw pieces %s ... hold only %d samples (transient %d)', ...
          files{1}, offset, p.transient_samples);
end
end

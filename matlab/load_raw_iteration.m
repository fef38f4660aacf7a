function [data, time] = load_raw_iteration(files, p)
%LOAD_RAW_ITERATION Join, trim and downsample the raw pieces of one mean iteration.
%   [DATA, TIME] = LOAD_RAW_ITERATION(FILES, P) follows step 2, items 1-2:
%   the pieces FILES (in time order, as the job lists them) are
%   joined, the first P.transient_samples raw
%   samples are dropped, and every P.downsample_factor-th sample is kept
%   starting with the first one left (DOWNSAMPLE(x, 4) without the signal
%   package). The selection is done piece by piece on the global sample
%   index (READ_RAW_PIECE, which also reads pieces written with step 1's
%   --raw-rate decimated), so memory holds only the downsampled signal.
%   Step 2 itself streams the pieces (SCAN_RAW_ITERATION, READ_RAW_ROWS)
%   and never holds a whole mean iteration; this function joins them, for
%   tests and inspection.
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
    [rows, n_covered, t] = read_raw_piece(files{i}, offset, p);
    if i > 1 && size(rows, 2) ~= size(parts{1}, 2)
        error('load_raw_iteration:columns', 'raw piece %s has %d columns, the first has %d', ...
              files{i}, size(rows, 2), size(parts{1}, 2));
    end
    parts{i} = double(rows);
    times{i} = t;
    offset = offset + n_covered;
end
data = vertcat(parts{:});
time = vertcat(times{:});
if isempty(data)
    error('load_raw_iteration:short', 'raw pieces %s ... hold only %d samples (transient %d)', ...
          files{1}, offset, p.transient_samples);
end
end

function [rows, n_covered, time, n_columns] = read_raw_piece(file, offset, p, columns)
%READ_RAW_PIECE The rows of one raw piece that step 2 keeps, as stored (single).
%   [ROWS, N_COVERED, TIME, N_COLUMNS] = READ_RAW_PIECE(FILE, OFFSET, P) follows
%   step 2, items 1-2, for one piece: OFFSET raw samples of the mean
%   iteration come before it; the piece's samples with global index g >
%   P.transient_samples and mod(g - P.transient_samples - 1,
%   P.downsample_factor) == 0 are kept (DOWNSAMPLE(x, 4) after the
%   transient, on the global index). A piece written with step 1's
%   --raw-rate decimated holds only such samples: its `sample_index`
%   gives their global indices and `raw_steps` the raw samples it covers.
%   Only the variables used are read (not the piece's settings).
%   ROWS = READ_RAW_PIECE(FILE, OFFSET, P, COLUMNS) keeps only the
%   connectivity columns COLUMNS (1-based), without a copy of the others.
%
%   Inputs
%       FILE    : char, full path of the raw piece.
%       OFFSET  : scalar, raw samples of the pieces before this one.
%       P       : struct from DEEPSIF_PARAMS.
%       COLUMNS : optional 1 x N, 1-based columns to keep (all when absent).
%   Outputs
%       ROWS      : R x C, the kept rows in the class stored (single for
%                   step 1's pieces): y1 - y2 (mV), time x columns.
%       N_COVERED : scalar, raw samples of the mean iteration this piece
%                   covers (the next piece's OFFSET is OFFSET + N_COVERED).
%       TIME      : R x 1 double, the matching entries of `time` (empty
%                   when the piece has none).
%       N_COLUMNS : scalar, connectivity columns the piece holds.
if exist(file, 'file') ~= 2
    error('load_raw_iteration:missing', 'raw piece %s is missing', file);
end
% full-rate pieces have no sample_index or raw_steps: MATLAB would warn for each
was = warning('off', 'MATLAB:load:variableNotFound');
piece = load(file, 'data', 'sample_index', 'raw_steps', 'time');
warning(was);
if ~isfield(piece, 'data')
    error('load_raw_iteration:noData', 'raw piece %s has no variable data', file);
end
n_rows = size(piece.data, 1);
n_columns = size(piece.data, 2);
if isfield(piece, 'sample_index')
    g = double(piece.sample_index(:));
    if numel(g) ~= n_rows || ~isfield(piece, 'raw_steps')
        error('load_raw_iteration:index', ...
              'raw piece %s: sample_index has %d entries for %d rows, or no raw_steps', ...
              file, numel(g), n_rows);
    end
    n_covered = double(piece.raw_steps);
    if any(g <= offset | g > offset + n_covered)
        error('load_raw_iteration:index', ...
              'raw piece %s: sample_index outside its samples %d..%d (a piece missing?)', ...
              file, offset + 1, offset + n_covered);
    end
else
    g = offset + (1:n_rows)';
    n_covered = n_rows;
end
take = g > p.transient_samples & ...
    mod(g - p.transient_samples - 1, p.downsample_factor) == 0;
if nargin < 4
    columns = 1:n_columns;
elseif max(columns) > n_columns
    error('process_region_nmm:columns', 'columns reach %d but raw piece %s has %d', ...
          max(columns), file, n_columns);
end
if all(take) && isequal(columns(:)', 1:n_columns)
    rows = piece.data;
else
    rows = piece.data(take, columns);
end
time = [];
if isfield(piece, 'time') && numel(piece.time) == n_rows
    t = double(piece.time(:));
    time = t(take);
end
end

function scan = scan_raw_iteration(files, columns, source_col, fwd, p)
%SCAN_RAW_ITERATION One pass over the raw pieces of a mean iteration, piece by piece.
%   SCAN = SCAN_RAW_ITERATION(FILES, COLUMNS, SOURCE_COL, FWD, P) reads the
%   pieces FILES in the order given (READ_RAW_PIECE: only the rows step 2
%   keeps, in the stored single precision) and keeps of them, for the
%   connectivity columns COLUMNS, only what step 2 needs of the whole mean
%   iteration, so that memory holds one piece at a time:
%     - the peaks of every column (step 2, item 5, before the thinning):
%       local maxima along time of the signal set to 0 below
%       P.spike_threshold_mv (THRESHOLD_MAXIMA), found on each piece with
%       the last rows of the one before it (the last run of equal values
%       of every column and the sample before it: a maximum needs both
%       neighbours, and a flat top its whole run), each maximum counted
%       once;
%     - the column sums, in double precision (the column means), one
%       running sum in time order, so that the means, and the clips'
%       projections, do not depend on where the pieces end;
%     - the source column SOURCE_COL, in double precision (it is rescaled);
%     - the background at the sensors, every column but SOURCE_COL
%       projected with its lead-field column (FWD), time mean not removed,
%       in blocks of rows counted from the mean iteration's first (the
%       same products whatever the piece boundaries)
%       (S numbers a sample instead of N: SNR_POWER_RATIO removes the
%       projected mean, the projection being linear);
%     - which rows each piece holds, for SAVE_SPIKE_CLIPS.
%   The result is what LOAD_RAW_ITERATION followed by COLUMNS selection
%   would give FIND_SPIKE_PEAKS, MEAN and the rescaling, without the
%   T x N signal in memory.
%
%   Inputs
%       FILES      : cell of char, full paths of the raw pieces in time order.
%       COLUMNS    : 1 x N, 1-based connectivity columns to keep.
%       SOURCE_COL : scalar, 1-based column (of the N kept) of the source.
%       FWD        : S x N double, lead field (sensors x regions), N = numel(COLUMNS).
%       P          : struct from DEEPSIF_PARAMS.
%   Outputs (fields of SCAN)
%       n_t        : T, samples of the downsampled signal.
%       peak_time  : K x 1 double, 1-based sample of every peak (unsorted).
%       peak_chan  : K x 1 double, its 1-based column.
%       col_mean   : 1 x N double, the time mean of each column.
%       source     : T x 1 double, column SOURCE_COL.
%       background : T x S double, x(:, others) * FWD(:, others)'.
%       piece_rows : numel(FILES) x 2, first and last downsampled sample
%                    of each piece (first > last for a piece with none).
%       offsets    : numel(FILES) x 1, raw samples before each piece.
files = cellstr(files);
if isempty(files)
    error('load_raw_iteration:none', 'no raw pieces given');
end
chunk = 1000;
columns = double(columns(:)');
n_cols = numel(columns);
thr = p.spike_threshold_mv;
n_raw = 0;
raw_sum = [];
f_raw = [];
source = cell(numel(files), 1);
background = cell(numel(files), 1);
peak_time = cell(numel(files), 1);
peak_chan = cell(numel(files), 1);
piece_rows = zeros(numel(files), 2);
offsets = zeros(numel(files), 1);
last_max = zeros(1, n_cols);
carry = [];
n_t = 0;
offset = 0;
for i = 1:numel(files)
    [rows, n_covered] = read_raw_piece(files{i}, offset, p);
    if i == 1
        n_raw = size(rows, 2);
        if max(columns) > n_raw
            error('process_region_nmm:columns', 'columns reach %d but the raw data has %d', ...
                  max(columns), n_raw);
        end
        raw_sum = zeros(1, n_raw);
        f_raw = background_leadfield(fwd, columns, source_col, n_raw);
        carry = zeros(0, n_raw, class(rows));
        pending = zeros(0, n_raw, class(rows));
    elseif size(rows, 2) ~= n_raw
        error('load_raw_iteration:columns', 'raw piece %s has %d columns, the first has %d', ...
              files{i}, size(rows, 2), n_raw);
    end
    offsets(i) = offset;
    offset = offset + n_covered;
    n_new = size(rows, 1);
    piece_rows(i, :) = [n_t + 1, n_t + n_new];
    if n_new == 0
        continue
    end
    % one running sum over the pieces' rows in time order: the same additions, in the same order,
    % whatever the piece boundaries (a sum per piece, added up, would round differently)
    raw_sum = sum([raw_sum; double(rows)], 1);
    source{i} = double(rows(:, columns(source_col)));
    % the background at the sensors, CHUNK rows at a time (large temporaries cost fresh
    % memory pages each time, small ones are reused), in blocks counted from the first
    % row of the mean iteration, not of the piece: every product then has the same
    % operands whatever the piece boundaries, and so the same rounding; the rows of an
    % unfinished block wait for the next piece
    pending = [pending; rows];
    n_full = chunk * floor(size(pending, 1) / chunk);
    bg = zeros(n_full, size(fwd, 1));
    for first_row = 1:chunk:n_full
        k = first_row:first_row + chunk - 1;
        bg(k, :) = double(pending(k, :)) * f_raw';
    end
    background{i} = bg;
    pending = pending(n_full + 1:end, :);
    % peaks: only the columns that reach the threshold in this piece (or in the
    % rows carried from the one before) can have any
    reach = any(rows >= thr, 1) | any(carry >= thr, 1);
    active = find(reach(columns));
    first = n_t - size(carry, 1) + 1;
    if ~isempty(active)
        block = [carry(:, columns(active)); rows(:, columns(active))];
        [r, c] = find(threshold_maxima(block, thr));
        c = reshape(active(c), [], 1);
        g = first - 1 + r;
        new = g > reshape(last_max(c), [], 1);
        peak_time{i} = g(new);
        peak_chan{i} = c(new);
        last_max(c(new)) = g(new);
        n_carry = carry_length(block, thr);
    else
        n_carry = 1;
    end
    n_keep = min(n_carry, size(carry, 1) + n_new);
    if n_keep <= n_new
        carry = rows(n_new - n_keep + 1:n_new, :);
    else
        carry = [carry(end - (n_keep - n_new) + 1:end, :); rows];
    end
    n_t = n_t + n_new;
end
if n_t == 0
    error('load_raw_iteration:short', 'raw pieces %s ... hold only %d samples (transient %d)', ...
          files{1}, offset, p.transient_samples);
end
scan.n_t = n_t;
scan.peak_time = vertcat(peak_time{:}, zeros(0, 1));
scan.peak_chan = vertcat(peak_chan{:}, zeros(0, 1));
scan.col_mean = raw_sum(columns) / n_t;
scan.source = vertcat(source{:});
scan.background = [vertcat(background{:}); double(pending) * f_raw'];
scan.piece_rows = piece_rows;
scan.offsets = offsets;
end

function f_raw = background_leadfield(fwd, columns, source_col, n_raw)
% The lead field of the background on the raw columns: column COLUMNS(k)
% holds FWD(:, k) for every k but SOURCE_COL, the other raw columns 0.
f_raw = zeros(size(fwd, 1), n_raw);
for k = [1:source_col - 1, source_col + 1:numel(columns)]
    f_raw(:, columns(k)) = f_raw(:, columns(k)) + fwd(:, k);
end
end

function n = carry_length(block, thr)
% Rows of the end of BLOCK the next piece needs: for every column its last
% run of equal values at or above THR (below THR all is 0, never a maximum)
% and the sample before it; at least one row, at most the whole block.
n_rows = size(block, 1);
last = block(n_rows, :);
last(last < thr) = 0;
active = last > 0;
run = double(active);
j = n_rows - 1;
while any(active) && j >= 1
    active = active & block(j, :) == last;
    run = run + active;
    j = j - 1;
end
n = min(n_rows, max(run) + 1);
end

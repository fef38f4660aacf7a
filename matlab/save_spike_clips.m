function save_spike_clips(files, scan, kept, source, columns, source_col, fwd, lf_id, pattern, ...
                          prev, p)
%SAVE_SPIKE_CLIPS Save the clips of the kept spikes, reading the raw pieces again one at a time.
%   SAVE_SPIKE_CLIPS(FILES, SCAN, KEPT, SOURCE, COLUMNS, SOURCE_COL, FWD,
%   LF_ID, PATTERN, PREV, P) follows step 2, item 9: clip j holds the
%   P.clip_length samples from CLIP_START(KEPT(j)) of every column
%   COLUMNS, with column SOURCE_COL replaced by the rescaled source
%   SOURCE (T x 1), and is saved as sprintf(PATTERN, PREV + j). Only the
%   pieces FILES that hold a clip sample are read (READ_RAW_PIECE; SCAN
%   from SCAN_RAW_ITERATION over the same FILES tells which rows each
%   holds), in order, keeping the last P.clip_length - 1 rows of the piece
%   before: a clip is saved as soon as its last row is read, so memory
%   holds one piece and one clip.
%   Each file: data (L x regions) in single precision, as the published
%   step 2 keeps the raw data's single precision; proj = FWD * data'
%   (sensors x L), the clip at the sensors that step 4 would otherwise
%   compute again, in double precision from the data as stored: the
%   background projection of the scan (SCAN.background, the other columns)
%   plus the rescaled source column projected (equal to FWD * double(data)'
%   up to the order of the additions); proj_leadfield = LF_ID, which lead
%   field made proj. Spikes that fall in the same clip (the clips sit on
%   a fixed grid) get the same file, made once. Uncompressed
%   (-v6): the noisy background does not compress, and step 4 and the
%   pack read every clip, compressed ones about 40x slower. Every file
%   goes through SAVE_MAT_ATOMIC.
%
%   Inputs
%       FILES      : cell of char, the raw pieces SCAN was made from.
%       SCAN       : struct from SCAN_RAW_ITERATION.
%       KEPT       : 1 x K, ascending kept peaks (ISOLATED_SPIKES).
%       SOURCE     : T x 1 double, the rescaled source column.
%       COLUMNS    : 1 x N, 1-based connectivity columns.
%       SOURCE_COL : scalar, 1-based source column of the N.
%       FWD        : S x N double, lead field.
%       LF_ID      : char, identity of the lead field ('' if unknown).
%       PATTERN    : sprintf format of the clip files, %d for the clip number.
%       PREV       : clips of the region before these.
%       P          : struct from DEEPSIF_PARAMS.
files = cellstr(files);
n_len = p.clip_length;
starts = clip_start(reshape(kept, 1, []), n_len);
if isempty(starts)
    return
end
if any(diff(starts) < 0) || starts(1) < 1 || starts(end) + n_len - 1 > scan.n_t
    error('save_spike_clips:order', 'clips must be ascending and inside 1..%d', scan.n_t);
end
ensure_dir(fileparts(sprintf(pattern, prev + 1)));
j = 1;
tail = [];
tail_last = 0;
for i = 1:numel(files)
    lo = scan.piece_rows(i, 1);
    hi = scan.piece_rows(i, 2);
    if j > numel(starts)
        break
    end
    if hi < lo
        continue
    end
    if starts(j) > hi
        tail = [];
        tail_last = hi;
        continue
    end
    rows = read_raw_piece(files{i}, scan.offsets(i), p);
    if size(rows, 1) ~= hi - lo + 1 || tail_last ~= lo - 1
        error('save_spike_clips:changed', ...
              'raw piece %s holds %d samples, %d when it was scanned', ...
              files{i}, size(rows, 1), hi - lo + 1);
    end
    tail_first = lo - size(tail, 1);
    while j <= numel(starts) && starts(j) + n_len - 1 <= hi
        if j > 1 && starts(j) == starts(j - 1)
            % another spike of the same clip (clips sit on a fixed grid): the same file
            save_mat_atomic(sprintf(pattern, prev + j), clip, '-v6');
            j = j + 1;
            continue
        end
        at = starts(j) + (0:n_len - 1);
        in_tail = at < lo;
        if any(in_tail)
            data = [tail(at(in_tail) - tail_first + 1, columns)
                    rows(at(~in_tail) - lo + 1, columns)];
        else
            data = rows(at - lo + 1, columns);
        end
        data = single(data);
        data(:, source_col) = single(source(at));
        proj = bsxfun(@plus, scan.background(at, :)', ...
                      fwd(:, source_col) * double(data(:, source_col))');
        clip = struct('data', data, 'proj', proj, 'proj_leadfield', lf_id);
        save_mat_atomic(sprintf(pattern, prev + j), clip, '-v6');
        j = j + 1;
    end
    n_tail = min(n_len - 1, size(tail, 1) + size(rows, 1));
    if n_tail <= size(rows, 1)
        tail = rows(end - n_tail + 1:end, :);
    else
        tail = [tail(end - (n_tail - size(rows, 1)) + 1:end, :); rows];
    end
    tail_last = hi;
end
if j <= numel(starts)
    error('save_spike_clips:short', 'the raw pieces end before clip %d', prev + j);
end
end

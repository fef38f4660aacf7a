function [idx, n_rows, rows] = clip_row_index(centre, sample, clip_counts, nper)
%CLIP_ROW_INDEX Row of a clip in the packed array of all used clips.
%   [IDX, N_ROWS] = CLIP_ROW_INDEX(CENTRE, SAMPLE, CLIP_COUNTS, NPER)
%     CENTRE      - centre regions, 0-based (any shape)
%     SAMPLE      - clip numbers, 1-based (nmm_{SAMPLE}.mat), same shape
%     CLIP_COUNTS - 1 x N_REGIONS, clips available per region
%     NPER        - clips used at most per region
%   IDX (0-based, shape of CENTRE) is the row of that clip when the used
%   clips, min(CLIP_COUNTS, NPER) per region, are stacked region by region
%   (region 0 first) and by clip number within a region:
%       offset = [0 cumsum(min(CLIP_COUNTS, NPER))]
%       IDX    = offset(CENTRE + 1) + SAMPLE - 1
%   N_ROWS is the total number of rows, offset(end). ROWS (N_ROWS x 2)
%   lists the clip of every row: [region (0-based), clip number (1-based)];
%   step 4 saves it as clip_rows and the packing step writes the HDF5 rows
%   in that order. This is the one definition of the packed row order.
used = max(min(double(clip_counts(:))', nper), 0);   % a negative count means none
offset = [0 cumsum(used)];
n_rows = offset(end);
centre = double(centre);
sample = double(sample);
if any(centre(:) < 0 | centre(:) >= numel(used))
    error('clip_row_index:region', 'region id out of range 0..%d', numel(used) - 1);
end
if any(sample(:) < 1 | sample(:) > used(centre(:) + 1)')
    error('clip_row_index:sample', 'clip number beyond the clips used for its region');
end
idx = reshape(offset(centre(:) + 1)', size(centre)) + sample - 1;
if nargout > 2
    rows = zeros(n_rows, 2);
    for r = find(used > 0)
        rows(offset(r) + 1:offset(r + 1), :) = [(r - 1) * ones(used(r), 1), (1:used(r))'];
    end
end
end

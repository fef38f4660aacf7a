function clip = prepare_clip_power(data, fwd, c, prm, proj)
%PREPARE_CLIP_POWER Per-clip quantities for the scale ratios of step 4.
%   CLIP = PREPARE_CLIP_POWER(DATA, FWD, C, PRM)
%   CLIP = PREPARE_CLIP_POWER(DATA, FWD, C, PRM, PROJ)
%     DATA - T x N clip (nmm_{n}.mat `data`), FWD - sensors x N lead field,
%     C    - the clip's centre region, 1-based column of DATA,
%     PRM  - DEEPSIF_PARAMS() (uses scale_window),
%     PROJ - optional FWD * DATA' (sensors x T), as step 2 stores it in
%            the clip; computed here when absent (the costly product).
%   Everything that depends on the clip only, computed once so that
%   PATCH_SCALE_RATIO costs little per (example, source):
%     clip.data    - DATA as double
%     clip.rows    - the power window (row indices of DATA)
%     clip.n_win   - its length
%     clip.shape_energy - sum over the window of the squared, time-mean
%                    removed centre waveform normalised to a peak of 1
%     clip.ncw     - the whole clip projected, time mean (over all T)
%                    removed, on the window: sensors x n_win
%   Window: the published script uses max(peak-50, 0) : max(peak+50, 500).
%   Its end is always the end of the 500-sample clip and its start is an
%   invalid index 0 when the peak is in the first 50 samples. The published
%   reach is kept, clamped to valid indices: max(peak-50, 1) : T.
data = double(data);
n_t = size(data, 1);
if size(data, 2) ~= size(fwd, 2)
    error('prepare_clip_power:size', 'clip has %d regions, lead field %d', ...
          size(data, 2), size(fwd, 2));
end
shape = data(:, c) / max(data(:, c));
[~, peak] = max(shape);
lo = max(peak + prm.scale_window(1), 1);
hi = min(max(peak + prm.scale_window(2), n_t), n_t);
rows = lo:hi;
shape_c = shape - mean(shape);
clip.data = data;
clip.rows = rows;
clip.n_win = numel(rows);
clip.shape_energy = sum(shape_c(rows).^2);
if nargin < 5 || isempty(proj)
    proj = fwd * data';
elseif ~isequal(size(proj), [size(fwd, 1) n_t])
    error('prepare_clip_power:size', 'proj is %d x %d, expected %d x %d', ...
          size(proj, 1), size(proj, 2), size(fwd, 1), n_t);
end
proj = double(proj);
% projection is linear: the projected time mean is the mean of the projection
clip.ncw = bsxfun(@minus, proj(:, rows), mean(proj, 2));
end

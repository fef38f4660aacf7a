function clip = prepare_clip_power(data, fwd, c, prm)
%PREPARE_CLIP_POWER Per-clip quantities for the scale ratios of step 4.
%   CLIP = PREPARE_CLIP_POWER(DATA, FWD, C, PRM)
%     DATA - T x N clip (nmm_{n}.mat `data`), FWD - sensors x N lead field,
%     C    - the clip's centre region, 1-based column of DATA,
%     PRM  - DEEPSIF_PARAMS() (uses scale_window).
%   Everything that depends on the clip only, computed once so that
%   PATCH_SCALE_RATIO costs little per (example, source):
%     clip.rows    - the power window (row indices of DATA)
%     clip.n_win   - its length
%     clip.shape_energy - sum over the window of the squared, time-mean
%                    removed centre waveform normalised to a peak of 1
%     clip.window  - DATA(rows, :), n_win x N
%     clip.mu      - 1 x N time mean of DATA over all T samples
%     clip.ncw     - FWD * (DATA(rows, :) - mu)' (sensors x n_win): the
%                    whole clip projected, mean removed, on the window
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
clip.rows = rows;
clip.n_win = numel(rows);
clip.shape_energy = sum(shape_c(rows).^2);
clip.window = data(rows, :);
clip.mu = mean(data, 1);
% The mean is removed after projecting (sensors x 1 instead of n_win x N).
clip.ncw = bsxfun(@minus, fwd * clip.window', fwd * clip.mu');
end

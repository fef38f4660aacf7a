function [alpha, ps, pn] = snr_power_ratio(source, background, idx, col_mean, fwd, ...
                                           source_col, target_snr)
%SNR_POWER_RATIO Scaling factor of step 2, item 7, from the source and the projected background.
%   [ALPHA, PS, PN] = SNR_POWER_RATIO(SOURCE, BACKGROUND, IDX, COL_MEAN,
%   FWD, SOURCE_COL, TARGET_SNR): the signal is the source column with
%   its time mean removed, projected with FWD(:, SOURCE_COL); the
%   background is every other column with its time mean removed, projected
%   with its lead-field columns: BACKGROUND(t, :) holds x_others(t) *
%   FWD(:, others)' (mean not removed) and the projected mean COL_MEAN(others)
%   * FWD(:, others)' is taken off here (the projection is linear). PS and
%   PN are their squared Frobenius norms over the samples IDX (SNR_WINDOW)
%   divided by numel(IDX); ALPHA = sqrt(10^(TARGET_SNR/10) * PN / PS).
%   Memory: T x S numbers for the background instead of T x N.
%
%   Inputs
%       SOURCE     : T x 1 double, the source column.
%       BACKGROUND : T x S double, the other columns projected, mean not removed.
%       IDX        : n x 1, n >= 1, samples of the window (1..T).
%       COL_MEAN   : 1 x N double, time mean of each column.
%       FWD        : S x N double, lead field (sensors x regions).
%       SOURCE_COL : scalar, 1-based source column.
%       TARGET_SNR : scalar, dB.
%   Outputs
%       ALPHA : scalar scaling factor.
%       PS    : scalar, signal power.
%       PN    : scalar, background power.
if isempty(idx)
    error('snr_scale_factor:noSpike', 'no spike to compute the scaling factor from');
end
if size(fwd, 2) ~= numel(col_mean) || size(background, 2) ~= size(fwd, 1)
    error('snr_scale_factor:size', ...
          'lead field is %d x %d, %d column means, background of %d sensors', ...
          size(fwd, 1), size(fwd, 2), numel(col_mean), size(background, 2));
end
n = numel(idx);
others = [1:source_col - 1, source_col + 1:size(fwd, 2)];
sig = (source(idx) - col_mean(source_col)) * fwd(:, source_col)';
noise = bsxfun(@minus, background(idx, :), col_mean(others) * fwd(:, others)');
ps = sum(sig(:).^2) / n;
pn = sum(noise(:).^2) / n;
if ps <= 0
    error('snr_scale_factor:zeroSignal', ...
          'source column %d has no power at the sensors: cannot scale', source_col);
end
alpha = sqrt(10^(target_snr / 10) * pn / ps);
end

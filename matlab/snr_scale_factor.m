function [alpha, ps, pn] = snr_scale_factor(nmm, fwd, source_col, spike_time, target_snr, p)
%SNR_SCALE_FACTOR Factor that brings the source to TARGET_SNR over the background.
%   [ALPHA, PS, PN] = SNR_SCALE_FACTOR(NMM, FWD, SOURCE_COL, SPIKE_TIME,
%   TARGET_SNR, P) follows step 2, item 7. The source column projected to
%   the sensors, FWD(:, SOURCE_COL) * NMM(:, SOURCE_COL)', is the signal;
%   the other columns projected with their lead-field columns are the
%   background. Each has its time mean removed. PS and PN are the squared
%   Frobenius norms of signal and background over the samples
%   t + (P.snr_window(1):P.snr_window(2)) of every spike t, divided by the
%   number of those samples; ALPHA = sqrt(10^(TARGET_SNR/10) * PN / PS).
%   Sample indices are clamped to [1, T], keeping duplicates (the
%   published script clamps to [0, T], and 0 is no valid index). Peaks
%   from FIND_SPIKE_PEAKS never need the clamp. The time mean of a
%   projection is the projection of the column means, so only the window
%   samples are projected (same result, little memory).
%
%   Inputs
%       NMM        : T x C double, signal (time x regions).
%       FWD        : S x C double, lead field (sensors x regions).
%       SOURCE_COL : scalar, 1-based source column.
%       SPIKE_TIME : 1 x K double, K >= 1 peak samples.
%       TARGET_SNR : scalar, dB.
%       P          : struct from DEEPSIF_PARAMS.
%   Outputs
%       ALPHA : scalar scaling factor.
%       PS    : scalar, signal power.
%       PN    : scalar, background power.
if isempty(spike_time)
    error('snr_scale_factor:noSpike', 'no spike to compute the scaling factor from');
end
if size(fwd, 2) ~= size(nmm, 2)
    error('snr_scale_factor:size', 'lead field has %d regions, signal has %d', ...
          size(fwd, 2), size(nmm, 2));
end
offsets = (p.snr_window(1):p.snr_window(2))';
idx = bsxfun(@plus, offsets, reshape(spike_time, 1, []));
idx = min(max(idx(:), 1), size(nmm, 1));
x = bsxfun(@minus, nmm(idx, :), mean(nmm, 1));
others = [1:source_col - 1, source_col + 1:size(nmm, 2)];
sig = x(:, source_col) * fwd(:, source_col)';
noise = x(:, others) * fwd(:, others)';
ps = sum(sig(:).^2) / numel(idx);
pn = sum(noise(:).^2) / numel(idx);
if ps <= 0
    error('snr_scale_factor:zeroSignal', ...
          'source column %d has no power at the sensors: cannot scale', source_col);
end
alpha = sqrt(10^(target_snr / 10) * pn / ps);
end

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
%   Sample indices are clamped to [1, T] (SNR_WINDOW); the powers are
%   those of SNR_POWER_RATIO, which step 2 calls itself with what
%   SCAN_RAW_ITERATION kept of the raw pieces.
%
%   Inputs
%       NMM        : T x C single or double, signal (time x regions).
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
idx = snr_window(spike_time, size(nmm, 1), p);
others = [1:source_col - 1, source_col + 1:size(nmm, 2)];
background = double(nmm(:, others)) * fwd(:, others)';
[alpha, ps, pn] = snr_power_ratio(double(nmm(:, source_col)), background, idx, ...
                                  mean(double(nmm), 1), fwd, source_col, target_snr);
end

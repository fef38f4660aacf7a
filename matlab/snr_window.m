function idx = snr_window(spike_time, n_t, p)
%SNR_WINDOW Samples of the SNR powers of step 2, item 7.
%   IDX = SNR_WINDOW(SPIKE_TIME, N_T, P) lists the samples
%   t + (P.snr_window(1):P.snr_window(2)) of every spike t, spike after
%   spike, clamped to [1, N_T] and keeping duplicates (the published
%   script clamps to [0, T], and 0 is no valid index). Peaks from
%   FIND_SPIKE_PEAKS never need the clamp.
%
%   Inputs
%       SPIKE_TIME : 1 x K double, peak samples.
%       N_T        : scalar, samples in the signal.
%       P          : struct from DEEPSIF_PARAMS.
%   Outputs
%       IDX : (K * window length) x 1 double.
offsets = (p.snr_window(1):p.snr_window(2))';
idx = bsxfun(@plus, offsets, reshape(double(spike_time), 1, []));
idx = min(max(idx(:), 1), n_t);
end

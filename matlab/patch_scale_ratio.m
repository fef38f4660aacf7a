function alpha = patch_scale_ratio(clip, fwd, patch, target_snr)
%PATCH_SCALE_RATIO Scale ratios of one source patch for given target SNRs.
%   ALPHA = PATCH_SCALE_RATIO(CLIP, FWD, PATCH, TARGET_SNR)
%     CLIP       - from PREPARE_CLIP_POWER (the clip of the patch centre)
%     FWD        - sensors x N lead field
%     PATCH      - 1-based region ids of the patch, centre first, no padding
%     TARGET_SNR - 1 x K target SNRs (dB)
%   ALPHA (1 x K) = sqrt(10.^(TARGET_SNR/10) .* Pn ./ Ps), as the published
%   find_alpha: every patch region carries the centre waveform normalised
%   to a peak of 1 (signal), all other regions keep the clip (noise), both
%   projected with FWD, time mean removed, and Ps, Pn = squared Frobenius
%   norm over the window rows / number of rows.
%   Computed without the big products: the signal projection is rank one,
%   sum(FWD(:, PATCH), 2) * shape', so Ps = |g|^2 * shape_energy / n_win;
%   the noise projection is the whole clip's projection minus the patch's.
patch = patch(:)';
fp = fwd(:, patch);
g = sum(fp, 2);
ps = (g' * g) * clip.shape_energy / clip.n_win;
dp = bsxfun(@minus, clip.data(clip.rows, patch), mean(clip.data(:, patch), 1));  % n_win x patch
noise = clip.ncw - fp * dp';
pn = sum(noise(:).^2) / clip.n_win;
alpha = sqrt(10.^(target_snr(:)' / 10) * pn / ps);
end

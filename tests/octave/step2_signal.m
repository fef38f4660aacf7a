function ds = step2_signal(n_samples, n_regions, bumps)
%STEP2_SIGNAL Synthetic downsampled signal: quiet background plus 12 mV bumps.
%   DS = STEP2_SIGNAL(N_SAMPLES, N_REGIONS, BUMPS) is N_SAMPLES x
%   N_REGIONS double, exactly representable in single precision. The
%   background of column c is 0.05 * sin(0.37 t + 1.3 c) (never near the
%   8 mV threshold); each row [c, t0] of BUMPS (K x 2) adds
%   12 * exp(-(t - t0)^2 / 128) to column c, a bump whose only sample
%   above 8 mV with a strict maximum is t0.
t = (1:n_samples)';
ds = zeros(n_samples, n_regions);
for c = 1:n_regions
    ds(:, c) = 0.05 * sin(0.37 * t + 1.3 * c);
end
for k = 1:size(bumps, 1)
    c = bumps(k, 1);
    ds(:, c) = ds(:, c) + 12 * exp(-(t - bumps(k, 2)).^2 / 128);
end
ds = double(single(ds));
end

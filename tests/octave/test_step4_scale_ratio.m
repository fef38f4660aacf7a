function test_step4_scale_ratio()
%TEST_STEP4_SCALE_RATIO Scale ratios equal the published formula.
prm = deepsif_params();
snr = [10 15];
% hand-computable case: 2 sensors, 3 regions, patch = region 1 only.
% Region 1 is a single sample of 2 at t = 300 (shape: 1 at 300, else 0),
% region 2 alternates +-1 (mean 0), region 3 is silent.
data = zeros(500, 3);
data(300, 1) = 2;
data(:, 2) = (-1).^(1:500)';
fwd = [1 0 5; 0 2 7];
clip = prepare_clip_power(data, fwd, 1, prm);
assert(isequal(clip.rows, 250:500), 'window max(peak-50,1) : 500');
n_win = 251;
ps = ((1 - 1 / 500)^2 + 250 * (1 / 500)^2) / n_win;   % |g|^2 = 1
pn = 4;                                                % (2 * +-1)^2 every sample
expected = sqrt(10.^(snr / 10) * pn / ps);
got = patch_scale_ratio(clip, fwd, 1, snr);
assert(max(abs(got - expected) ./ expected) < 1e-12);

% random data, patches of 1..3 regions, against the published computation
seed_rng(3);
fwd = randn(2, 3);
for trial = 1:5
    data = randn(500, 3) + 0.3;
    % peaks near the start too (window start clamped)
    data(:, 1) = data(:, 1) + 8 * exp(-(((1:500)' - 40 * trial) / 5).^2);
    clip = prepare_clip_power(data, fwd, 1, prm);
    for patch = {1, [1 2], [1 3]}
        got = patch_scale_ratio(clip, fwd, patch{1}, snr);
        ref = published_alpha(data, fwd, patch{1}, snr);
        assert(max(abs(got - ref) ./ ref) < 1e-10);
    end
end
% the ratio between target SNRs is fixed: sqrt(10^(5/10))
assert(abs(got(2) / got(1) - sqrt(10^0.5)) < 1e-12);
% single precision clips (TVB output) are accepted
clip = prepare_clip_power(single(data), fwd, 1, prm);
got = patch_scale_ratio(clip, fwd, [1 2], snr);
ref = published_alpha(double(single(data)), fwd, [1 2], snr);
assert(max(abs(got - ref) ./ ref) < 1e-10);
% a stored projection (step 2's proj = fwd * data') gives the same ratios
ref = published_alpha(data, fwd, [1 2], snr);
stored = prepare_clip_power(data, fwd, 1, prm, fwd * data');
assert(max(abs(patch_scale_ratio(stored, fwd, [1 2], snr) - ref) ./ ref) < 1e-10);
% and is really used: a projection of other data gives other ratios
other = prepare_clip_power(data, fwd, 1, prm, 2 * fwd * data');
assert(all(abs(patch_scale_ratio(other, fwd, [1 2], snr) - ref) ./ ref > 1e-3));
try
    prepare_clip_power(data, fwd, 1, prm, fwd * data(1:400, :)');
    ok = false;
catch err
    ok = strcmp(err.identifier, 'prepare_clip_power:size');
end
assert(ok, 'a projection of the wrong size is refused');
disp('test_step4_scale_ratio passed');
end

function alpha = published_alpha(data, fwd, region_id, target_snr)
% find_alpha / calcualate_SNR of the published script, written out plainly,
% with its window start clamped to 1 (its end is always the clip's end).
spike_shape = data(:, region_id(1)) / max(data(:, region_id(1)));
[~, peak_time] = max(spike_shape);
data(:, region_id) = repmat(spike_shape, 1, numel(region_id));
win = max(peak_time - 50, 1):max(peak_time + 50, 500);
sig_eeg = (fwd(:, region_id) * data(:, region_id)')';
sig_eeg_rm = sig_eeg - repmat(mean(sig_eeg, 1), size(sig_eeg, 1), 1);
dd = 1:size(data, 2);
dd(region_id) = [];
noise_eeg = (fwd(:, dd) * data(:, dd)')';
noise_eeg_rm = noise_eeg - repmat(mean(noise_eeg, 1), size(noise_eeg, 1), 1);
ps = norm(sig_eeg_rm(win, :), 'fro')^2 / numel(win);
pn = norm(noise_eeg_rm(win, :), 'fro')^2 / numel(win);
alpha = sqrt(10.^(target_snr ./ 10) .* pn ./ ps);
end

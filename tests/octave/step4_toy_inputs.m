function [job, clip_dir] = step4_toy_inputs(folder, clip_counts)
%STEP4_TOY_INPUTS Write the inputs of GENERATE_SYNTHETIC_SOURCE for a toy head.
%   [JOB, CLIP_DIR] = STEP4_TOY_INPUTS(FOLDER, CLIP_COUNTS) writes into
%   FOLDER the 5 x 5 torus geometry of STEP4_TORUS (centre, nbs), the
%   Euclidean distances of the centres (raw_dis_matrix), a random 6-sensor
%   lead field (fwd) and
%   CLIP_COUNTS(r+1) clips for each region r (500 x 25, a 12 mV bump in
%   the region's own column, background in a few other columns), clip k of
%   region r as CLIP_DIR/a{r}/nmm_{k}.mat. JOB holds the path fields of the
%   job file (not mode, seed, output): clip_pattern is the sprintf format
%   CLIP_DIR/a%d/nmm_%d.mat (region, then clip number).
[nbs, centre] = step4_torus(5, 5);
n = numel(nbs);
if ~exist(folder, 'dir')
    mkdir(folder);
end
raw_dis_matrix = zeros(n);
for i = 1:n
    d = centre - repmat(centre(i, :), n, 1);
    raw_dis_matrix(i, :) = sqrt(sum(d.^2, 2))';
end
seed_rng(7);   % fixed toy data, independent of the tested seeds
fwd = randn(6, n);
save(fullfile(folder, 'inflated.mat'), 'centre', '-v7');
save(fullfile(folder, 'region_mapping.mat'), 'nbs', '-v7');
save(fullfile(folder, 'distances.mat'), 'raw_dis_matrix', '-v7');
save(fullfile(folder, 'leadfield.mat'), 'fwd', '-v7');
clip_dir = fullfile(folder, 'nmm_toy');
t = (1:500)';
for r = 0:(n - 1)
    mkdir(fullfile(clip_dir, sprintf('a%d', r)));
    for k = 1:clip_counts(r + 1)
        peak = 30 + mod(97 * r + 61 * k, 440);   % some peaks in the first 50 samples
        data = 0.05 * randn(500, n);
        data(:, r + 1) = data(:, r + 1) + 12 * exp(-((t - peak) / 6).^2);
        others = mod(r + [7 11 13], n) + 1;
        data(:, others) = data(:, others) + sin(2 * pi * t * [3 5 7] / 500);
        save(fullfile(clip_dir, sprintf('a%d', r), sprintf('nmm_%d.mat', k)), 'data', '-v7');
    end
end
job.inflated = fullfile(folder, 'inflated.mat');
job.region_mapping = fullfile(folder, 'region_mapping.mat');
job.distances = fullfile(folder, 'distances.mat');
job.leadfield = fullfile(folder, 'leadfield.mat');
job.clip_pattern = fullfile(clip_dir, 'a%d', 'nmm_%d.mat');
job.clip_counts = clip_counts(:)';
end

function plan = synthesis_plan(job, prm)
%SYNTHESIS_PLAN Step 4 without the scale ratios: every random choice.
%   PLAN = SYNTHESIS_PLAN(JOB, PRM) takes the job struct of
%   GENERATE_SYNTHETIC_SOURCE and DEEPSIF_PARAMS() and draws, from the
%   seeded generators, the patches, clips and magnitude decay of every
%   example. PLAN holds the output fields of GENERATE_SYNTHETIC_SOURCE
%   except scale_ratio, and what the scale ratios need:
%     head_row   (H x 1) 0-based packed row of the clip of each distinct
%                (clip, patch) pair (a 'head'), ascending
%     head_patch (H x 70) its patch, 0-based, padded with pad_value
%     pair_head  (E*S x 1) head of (example e, source k), at e + (k-1)*E
%     target_snr (1 x K) the target SNRs of the mode (dB)
%     leadfield_id the job's leadfield_id ('' when absent): clips whose
%                stored projection was made with it are not projected again
%     leadfield  the file name of the job's lead field (saved in the step-4
%                file: the trainer must project with that lead field)
%   The scale ratios use no randomness, so computing them apart (CLIP_SCALE_RATIOS,
%   in one or several processes) gives the same file for the same seed.
run_mode = char(job.mode);
if ~any(strcmp(run_mode, {'train', 'test'}))
    error('generate_synthetic_source:mode', 'mode must be train or test, not %s', run_mode);
end
md = prm.modes.(run_mode);
is_train = strcmp(run_mode, 'train');
seed_rng(job.seed);
t_start = tic;

% ---- inputs ----------------------------------------------------------------
s = load(char(job.inflated), 'centre');
centre = double(s.centre);
s = load(char(job.region_mapping), 'nbs');
nbs = s.nbs;
s = load(char(job.distances), 'raw_dis_matrix');   % DeepSIF's name in dis_matrix_fs_20k.mat
raw_dis_matrix = double(s.raw_dis_matrix);
s = load(char(job.leadfield), 'fwd');
fwd = double(s.fwd);
n_reg = size(centre, 1);
counts = double(job.clip_counts(:))';
if numel(nbs) ~= n_reg || size(fwd, 2) ~= n_reg || any(size(raw_dis_matrix) ~= n_reg) || ...
        numel(counts) ~= n_reg
    error('generate_synthetic_source:size', ...
          ['region counts disagree: centre %d, nbs %d, fwd %d, raw_dis_matrix %dx%d, ' ...
           'clip_counts %d'], n_reg, numel(nbs), size(fwd, 2), size(raw_dis_matrix, 1), ...
          size(raw_dis_matrix, 2), numel(counts));
end
used = max(min(counts, md.nper), 0);
with_clips = find(counts > 0);       % 1-based; only these can be source centres
n_cen = numel(with_clips);
if n_cen == 0
    error('generate_synthetic_source:noclips', 'no region has clips');
end
pad = prm.pad_value;
max_size = prm.max_patch_size;
n_src = prm.n_sources;
snr_levels = prm.sensor_snr_levels(:);
n_snr = numel(snr_levels);
n_iter = md.n_iter;
fprintf('step 4 (%s): %d regions, %d with clips, %d examples x %d sources\n', ...
        run_mode, n_reg, n_cen, n_iter * n_cen * n_snr, n_src);

% ---- candidate patches (region growing) ---------------------------------------
g = neighbour_graph(nbs);
cand = cell(1, n_reg);
step = max(1, ceil(n_cen / 10));
for j = 1:n_cen
    cand{with_clips(j)} = grow_patches(with_clips(j), g, centre, prm);
    if mod(j, step) == 0 || j == n_cen
        fprintf('  patches: %d / %d regions (%.1f s)\n', j, n_cen, toc(t_start));
    end
end

% ---- patch of each source -----------------------------------------------------
% Centres of sources 2..n_src: one random permutation of the regions with
% clips per variation and extra source (the published script also overwrote
% row n_iter+1 of this list with the identity, which is not done here).
perm_list = zeros(n_iter * (n_src - 1), n_cen);
for kk = 1:n_iter
    for k = 1:(n_src - 1)
        perm_list(kk + (k - 1) * n_iter, :) = randperm(n_cen);
    end
end
n_base = n_iter * n_cen;                 % one base row per (centre, variation)
base = zeros(n_base * n_src, max_size);  % row b + (k-1)*n_base: source k of base b
for kk = 1:n_iter
    for j = 1:n_cen
        b = (j - 1) * n_iter + kk;       % published output order: region-major
        tr = cand{with_clips(j)};
        if is_train && kk <= size(tr, 1)
            base(b, :) = tr(kk, :);
        else
            base(b, :) = tr(randi(size(tr, 1)), :);
        end
        for k = 2:n_src
            tr = cand{with_clips(perm_list(kk + n_iter * (k - 2), j))};
            base(b + (k - 1) * n_base, :) = tr(randi(size(tr, 1)), :);
        end
    end
end
n_ex = n_base * n_snr;
ex_base = ceil((1:n_ex)' / n_snr);       % the base row of each example
sr = zeros(n_ex * n_src, max_size);      % row q = e + (k-1)*n_ex: example e, source k
for k = 1:n_src
    sr((1:n_ex) + (k - 1) * n_ex, :) = base(ex_base + (k - 1) * n_base, :);
end
clear base;
current_snr = repmat(snr_levels, n_base, 1);

% ---- clip of each source --------------------------------------------------------
cen0 = reshape(sr(:, 1), n_ex, n_src);   % centre regions, 0-based
n_avail = reshape(used(cen0(:) + 1), n_ex, n_src);
random_samples = min(floor(rand(n_ex, n_src) .* n_avail) + 1, n_avail);
[nmm_idx, ~, clip_rows] = clip_row_index(cen0, random_samples, counts, md.nper);

% ---- distinct (clip, patch) pairs -------------------------------------------------
% Pairs of the same clip, base row and source (the sensor-SNR copies of one
% centre and variation) have the same patch: their ratios are computed once.
n_pairs = n_ex * n_src;
pair_base = reshape(repmat(ex_base, 1, n_src) + repmat((0:(n_src - 1)) * n_base, n_ex, 1), [], 1);
[~, first, pair_head] = unique(double(nmm_idx(:)) * (n_base * n_src) + pair_base);

% ---- magnitude decay inside each patch ------------------------------------------
half_mm = randi(prm.half_magnitude_mm);  % drawn once for the whole data set
sigma = prm.sigma_factor * half_mm;
in_patch = sr ~= pad;
[pair_of, ~] = find(in_patch);           % same order as sr(in_patch)
dist = raw_dis_matrix(sub2ind([n_reg n_reg], sr(pair_of, 1) + 1, sr(in_patch) + 1));
mag = pad * ones(n_pairs, max_size);
mag(in_patch) = exp(-dist.^2 / (2 * sigma^2));

plan.selected_region = reshape(sr, n_ex, n_src, max_size);
plan.nmm_idx = int32(nmm_idx);    % the trainer indexes an HDF5 dataset with it
plan.random_samples = random_samples;
plan.current_snr = current_snr;
plan.sensor_snr = current_snr;    % the name DeepSIF's trainer reads
plan.mag_change = reshape(mag, n_ex, n_src, max_size);
plan.clip_rows = clip_rows;       % [region, clip number] of every packed row (the HDF5 order)
plan.seed = double(job.seed);     % what produced the file, so a re-run can tell it is up to date
plan.clip_counts = counts;
plan.dataset = run_mode;
plan.head_row = double(nmm_idx(first(:)));
plan.head_patch = sr(first(:), :);
plan.pair_head = pair_head(:);
plan.target_snr = md.target_snr;
plan.leadfield_id = '';
if isfield(job, 'leadfield_id')
    plan.leadfield_id = char(job.leadfield_id);
end
[~, lf_name, lf_ext] = fileparts(char(job.leadfield));
plan.leadfield = [lf_name, lf_ext];  % the lead field the trainer must project with (its file name)
plan.fingerprint = '';            % what made the file (JSON text from the job), saved with it
if isfield(job, 'fingerprint')
    plan.fingerprint = char(job.fingerprint);
end
fprintf('  plan: %d (example, source) pairs, %d distinct (clip, patch) (%.1f s)\n', ...
        n_pairs, numel(first), toc(t_start));
end

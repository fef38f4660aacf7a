function generate_synthetic_source(job_file)
%GENERATE_SYNTHETIC_SOURCE Step 4: synthetic source parameters for DeepSIF.
%   GENERATE_SYNTHETIC_SOURCE(JOB_FILE) loads the job struct from the MAT
%   file JOB_FILE, with fields
%     inflated       - path of a file with `centre` (N x 3 region centres)
%     region_mapping - path of a file with `nbs` (1 x N cell, 1-based lists)
%     distances      - path of a file with `all_dis` (N x N, mm)
%     leadfield      - path of a file with `fwd` (sensors x N)
%     clip_dir       - the nmm_{name} folder: clip n of region r (0-based) is
%                      clip_dir/a{r}/nmm_{n}.mat with `data` (T x N)
%     clip_counts    - 1 x N, clips available per region (may be 0)
%     mode           - 'train' or 'test' (nper, n_iter, target SNRs from
%                      DEEPSIF_PARAMS)
%     seed           - seed of the random generators
%     output         - path of the MAT file to write
%   and writes, for E = n_iter x (regions with clips) x 4 sensor-SNR levels
%   examples and S = n_sources sources:
%     selected_region (E x S x 70) patch region ids, 0-based, centre first,
%                     padded with 15213
%     random_samples  (E x S) clip number of the centre region, 1-based
%     nmm_idx         (E x S, int32) 0-based row of that clip in the packed
%                     array of used clips (CLIP_ROW_INDEX)
%     current_snr, sensor_snr (E x 1) sensor SNR level (dB)
%     scale_ratio     (E x S x target SNRs) source scaling factors
%     mag_change      (E x S x 70) Gaussian magnitude decay in the patch,
%                     padded with 15213
%     clip_rows       (rows x 2) [region 0-based, clip number] of every row
%                     of the packed clip file, in row order (CLIP_ROW_INDEX)
%     seed, clip_counts, dataset: the inputs that produced the file
%   Example order is the published script's actual output order: for each
%   centre region, for each variation, the 4 sensor-SNR levels.
job = load(job_file);
prm = deepsif_params();
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
s = load(char(job.distances), 'all_dis');
all_dis = double(s.all_dis);
s = load(char(job.leadfield), 'fwd');
fwd = double(s.fwd);
n_reg = size(centre, 1);
counts = double(job.clip_counts(:))';
if numel(nbs) ~= n_reg || size(fwd, 2) ~= n_reg || any(size(all_dis) ~= n_reg) || ...
        numel(counts) ~= n_reg
    error('generate_synthetic_source:size', ...
          ['region counts disagree: centre %d, nbs %d, fwd %d, all_dis %dx%d, ' ...
           'clip_counts %d'], n_reg, numel(nbs), size(fwd, 2), size(all_dis, 1), ...
          size(all_dis, 2), numel(counts));
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

% ---- scale ratios: each clip file read once -------------------------------------
% The (example, source) pairs are grouped by clip. Within a clip, pairs of
% the same base row and source (the sensor-SNR copies of one centre and
% variation) have the same patch, so their ratios are computed once.
n_pairs = n_ex * n_src;
n_target = numel(md.target_snr);
ratio = zeros(n_pairs, n_target);
pair_base = reshape(repmat(ex_base, 1, n_src) + repmat((0:(n_src - 1)) * n_base, n_ex, 1), [], 1);
[~, order] = sort(double(nmm_idx(:)) * (n_base * n_src) + pair_base);
sorted_rows = nmm_idx(order);
starts = [1; find(diff(sorted_rows) ~= 0) + 1];
stops = [starts(2:end) - 1; n_pairs];
n_clips = numel(starts);
step = max(1, ceil(n_clips / 10));
fprintf('  scale ratios: %d (example, source) pairs from %d clips\n', n_pairs, n_clips);
for u = 1:n_clips
    members = order(starts(u):stops(u));
    c = cen0(members(1)) + 1;
    clip_file = fullfile(char(job.clip_dir), sprintf('a%d', c - 1), ...
                         sprintf('nmm_%d.mat', random_samples(members(1))));
    if ~exist(clip_file, 'file')
        error('generate_synthetic_source:clip', 'missing clip %s (clip_counts(%d) = %d)', ...
              clip_file, c, counts(c));
    end
    s = load(clip_file, 'data');
    clip = prepare_clip_power(s.data, fwd, c, prm);
    if ~(isfinite(clip.shape_energy) && clip.shape_energy > 0)
        error('generate_synthetic_source:clip', ...
              'clip %s has no positive spike in its region''s column: cannot scale it', clip_file);
    end
    bases = pair_base(members);
    first = [true; diff(bases) ~= 0];      % members are sorted by base row
    group = cumsum(first);
    heads = members(first);
    alphas = zeros(numel(heads), n_target);
    for h = 1:numel(heads)
        patch = sr(heads(h), :);
        alphas(h, :) = patch_scale_ratio(clip, fwd, patch(patch ~= pad) + 1, md.target_snr);
    end
    ratio(members, :) = alphas(group, :);
    if mod(u, step) == 0 || u == n_clips
        fprintf('  scale ratios: %d / %d clips (%.1f s)\n', u, n_clips, toc(t_start));
    end
end

% ---- magnitude decay inside each patch ------------------------------------------
half_mm = randi(prm.half_magnitude_mm);  % drawn once for the whole data set
sigma = prm.sigma_factor * half_mm;
in_patch = sr ~= pad;
[pair_of, ~] = find(in_patch);           % same order as sr(in_patch)
dist = all_dis(sub2ind([n_reg n_reg], sr(pair_of, 1) + 1, sr(in_patch) + 1));
mag = pad * ones(n_pairs, max_size);
mag(in_patch) = exp(-dist.^2 / (2 * sigma^2));

% ---- save ---------------------------------------------------------------------
out.selected_region = reshape(sr, n_ex, n_src, max_size);
out.nmm_idx = int32(nmm_idx);    % the trainer indexes an HDF5 dataset with it
out.random_samples = random_samples;
out.current_snr = current_snr;
out.sensor_snr = current_snr;    % the name DeepSIF's trainer reads
out.scale_ratio = reshape(ratio, n_ex, n_src, n_target);
out.mag_change = reshape(mag, n_ex, n_src, max_size);
out.clip_rows = clip_rows;      % [region, clip number] of every packed row (the HDF5 order)
out.seed = double(job.seed);     % what produced the file, so a re-run can tell it is up to date
out.clip_counts = counts;
out.dataset = run_mode;
[out_dir, ~, ~] = fileparts(char(job.output));
if ~isempty(out_dir) && ~exist(out_dir, 'dir')
    mkdir(out_dir);
end
save_mat_atomic(char(job.output), out);
fprintf('step 4 done: %s (%d examples, %.1f s)\n', char(job.output), n_ex, toc(t_start));
end

function test_step4_generate()
%TEST_STEP4_GENERATE GENERATE_SYNTHETIC_SOURCE end to end on a toy head.
folder = tempname();
try
    check_toy_runs(folder);
catch err
    remove_folder(folder);
    rethrow(err);
end
remove_folder(folder);
disp('test_step4_generate passed');
end

function check_toy_runs(folder)
% The checks, writing into FOLDER.
prm = deepsif_params();
counts = mod(0:24, 4);          % regions 0, 4, 8, ... have no clip
counts(6) = 12;                 % more clips than nper (10 in test mode)
[job, clip_dir] = step4_toy_inputs(folder, counts);
job.fingerprint = 'toy step-4 settings';
with_clips = find(counts > 0);  % 1-based
n_cen = numel(with_clips);

out = run_job(job, 'test', 3, fullfile(folder, 'out_a.mat'));
md = prm.modes.test;
n_ex = md.n_iter * n_cen * 4;
n_src = prm.n_sources;
max_size = prm.max_patch_size;
pad = prm.pad_value;
assert(isequal(size(out.selected_region), [n_ex n_src max_size]));
assert(isequal(size(out.mag_change), [n_ex n_src max_size]));
assert(isequal(size(out.scale_ratio), [n_ex n_src numel(md.target_snr)]));
assert(isequal(size(out.random_samples), [n_ex n_src]));
assert(isequal(size(out.nmm_idx), [n_ex n_src]));
assert(isequal(size(out.current_snr), [n_ex 1]));
assert(isequal(out.sensor_snr, out.current_snr));
assert(isequal(out.current_snr, repmat(prm.sensor_snr_levels(:), n_ex / 4, 1)));
assert(strcmp(out.fingerprint, job.fingerprint), 'the job fingerprint is saved in the output');

cen = out.selected_region(:, :, 1);
assert(all(counts(cen(:) + 1) > 0), 'only regions with clips are centres');
% published order: region-major, then variation, then the 4 SNR levels
expected_first = reshape(with_clips(ceil((1:n_ex) / (4 * md.n_iter))), [], 1) - 1;
assert(isequal(cen(:, 1), expected_first));
% sources 2..: one permutation of the regions with clips per variation
for kk = 1:md.n_iter
    rows = ((0:(n_cen - 1)) * md.n_iter + kk - 1) * 4 + 1;
    assert(isequal(sort(cen(rows, 2))', with_clips - 1));
    % the 4 SNR levels of one (centre, variation) share the patches
    for s = 1:3
        assert(isequal(out.selected_region(rows, :, :), out.selected_region(rows + s, :, :)));
    end
end
% clips exist
rs = out.random_samples;
n_avail = reshape(min(counts(cen(:) + 1), md.nper), size(cen));
assert(all(rs(:) >= 1 & rs(:) <= n_avail(:) & rs(:) == round(rs(:))));
assert(any(rs(cen == 5) > 3), 'region 5 (12 clips) draws beyond clip 3 too');
offset = [0 cumsum(min(counts, md.nper))];
assert(isa(out.nmm_idx, 'int32'));
assert(isequal(double(out.nmm_idx), offset(cen + 1) + rs - 1));
% padding and mag_change
sr = out.selected_region;
is_pad = sr == pad;
assert(isequal(is_pad, out.mag_change == pad));
assert(all(sr(~is_pad) >= 0 & sr(~is_pad) < numel(counts)));
assert(all(all(out.mag_change(:, :, 1) == 1)), 'magnitude 1 at the centre');
dis = load(job.distances);
for q = 1:20:(n_ex * n_src)
    [e, k] = ind2sub([n_ex n_src], q);
    ids = squeeze(sr(e, k, :))';
    ids = ids(ids ~= pad);
    mag = squeeze(out.mag_change(e, k, 1:numel(ids)))';
    d = dis.raw_dis_matrix(ids(1) + 1, ids + 1);
    [~, order] = sort(d);
    assert(all(diff(mag(order)) <= 0), 'magnitude non-increasing with distance');
    assert(all(mag > 0 & mag <= 1));
end
% scale ratios: positive, fixed ratio between the target SNRs, and equal
% to the direct computation for a sample of (example, source) pairs
ratio = out.scale_ratio;
assert(all(isfinite(ratio(:)) & ratio(:) > 0));
step = sqrt(10^((md.target_snr(2) - md.target_snr(1)) / 10));
assert(max(abs(ratio(:, :, 2) ./ ratio(:, :, 1) - step)) < 1e-9);
fwd = load(job.leadfield);
for q = 1:37:(n_ex * n_src)
    [e, k] = ind2sub([n_ex n_src], q);
    ids = squeeze(sr(e, k, :))';
    ids = ids(ids ~= pad) + 1;
    clip = load(fullfile(clip_dir, sprintf('a%d', ids(1) - 1), ...
                         sprintf('nmm_%d.mat', rs(e, k))));
    ref = direct_alpha(clip.data, fwd.fwd, ids, md.target_snr);
    assert(max(abs(squeeze(ratio(e, k, :))' - ref) ./ ref) < 1e-9);
end

% same seed -> same variables; another seed -> different draws
again = run_job(job, 'test', 3, fullfile(folder, 'out_b.mat'));
assert(isequal(again, out), 'same seed must give the same file');
check_stored_projections(job, out, folder, clip_dir);
split = run_split(job, 'test', 3, fullfile(folder, 'out_split.mat'), 3);
assert(isequal(split, out), 'plan + 3 ratio parts + finish must give the same file as one process');
other = run_job(job, 'test', 4, fullfile(folder, 'out_c.mat'));
assert(~isequal(other.selected_region, out.selected_region));
assert(~isequal(other.random_samples, out.random_samples));

% train mode: the first source takes candidate row kk when it exists
out = run_job(job, 'train', 5, fullfile(folder, 'out_train.mat'));
md = prm.modes.train;
n_ex = md.n_iter * n_cen * 4;
assert(isequal(size(out.scale_ratio), [n_ex n_src numel(md.target_snr)]));
rs = out.random_samples;
cen = out.selected_region(:, :, 1);
n_avail = reshape(min(counts(cen(:) + 1), md.nper), size(cen));
assert(all(rs(:) >= 1 & rs(:) <= n_avail(:)), 'never a clip that does not exist');
s = load(job.region_mapping);
c = load(job.inflated);
g = neighbour_graph(s.nbs);
seed_rng(5);                     % the patches are the first draws of the run
cand = cell(1, numel(counts));
for j = 1:n_cen
    cand{with_clips(j)} = grow_patches(with_clips(j), g, c.centre, prm);
end
for j = 1:n_cen
    tr = cand{with_clips(j)};
    for kk = 1:md.n_iter
        e = ((j - 1) * md.n_iter + kk - 1) * 4 + 1;
        first = squeeze(out.selected_region(e, 1, :))';
        if kk <= size(tr, 1)
            assert(isequal(first, tr(kk, :)));
        else
            assert(ismember(first, tr, 'rows'));
        end
        second = squeeze(out.selected_region(e, 2, :))';
        assert(ismember(second, cand{second(1) + 1}, 'rows'));
    end
end
end

function out = run_job(job, mode, seed, output)
% Write a job file, run GENERATE_SYNTHETIC_SOURCE, load its output.
job.mode = mode;
job.seed = seed;
job.output = output;
job_file = [output(1:end - 4) '_job.mat'];
save(job_file, '-struct', 'job', '-v7');
generate_synthetic_source(job_file);
out = load(output);
end

function check_stored_projections(job, out, folder, clip_dir)
% Clips (in CLIP_DIR) carrying step 2's projection: used when made with the
% job's lead field (same ratios when right, other ratios when deliberately
% wrong), ignored when made with another lead field.
lf = load(job.leadfield);
centres = out.selected_region(:, :, 1);
used = unique([centres(:), out.random_samples(:)], 'rows');
job.leadfield_id = 'sha256:toy';
for i = 1:size(used, 1)
    path = fullfile(clip_dir, sprintf('a%d', used(i, 1)), sprintf('nmm_%d.mat', used(i, 2)));
    clip = load(path);
    clip.proj = lf.fwd * clip.data';
    clip.proj_leadfield = job.leadfield_id;
    save(path, '-struct', 'clip', '-v7');
end
stored = run_job(job, 'test', 3, fullfile(folder, 'out_stored.mat'));
rel = abs(stored.scale_ratio - out.scale_ratio) ./ out.scale_ratio;
assert(max(rel(:)) < 1e-10, 'stored projections give the same ratios');
% a wrong projection of one clip, marked as made with this lead field
target = used(1, :);
path = fullfile(clip_dir, sprintf('a%d', target(1)), sprintf('nmm_%d.mat', target(2)));
clip = load(path);
clip.proj = 3 * clip.proj;
save(path, '-struct', 'clip', '-v7');
hit = out.selected_region(:, :, 1) == target(1) & out.random_samples == target(2);
wrong = run_job(job, 'test', 3, fullfile(folder, 'out_wrong.mat'));
rel = abs(wrong.scale_ratio - out.scale_ratio) ./ out.scale_ratio;
rel = max(rel, [], 3);
assert(all(rel(hit) > 1e-3) && max(rel(~hit)) < 1e-10, 'the stored projection is used');
% the same clip, marked as made with another lead field: ignored
clip.proj_leadfield = 'sha256:other';
save(path, '-struct', 'clip', '-v7');
again = run_job(job, 'test', 3, fullfile(folder, 'out_other.mat'));
rel = abs(again.scale_ratio - out.scale_ratio) ./ out.scale_ratio;
assert(max(rel(:)) < 1e-10, 'a projection from another lead field is not used');
delete(path);   % leave the clip as it was, without a projection
data = clip.data;
save(path, 'data', '-v7');
end

function out = run_split(job, mode, seed, output, n_parts)
% The same job in stages: plan, N_PARTS ratio parts (in reverse order), finish.
job.mode = mode;
job.seed = seed;
job.output = output;
job.plan_file = [output(1:end - 4) '_plan.mat'];
job.stage = 'plan';
job_file = [output(1:end - 4) '_job.mat'];
save(job_file, '-struct', 'job', '-v7');
generate_synthetic_source(job_file);
parts = cell(1, n_parts);
for k = n_parts:-1:1
    parts{k} = sprintf('%s_part%d.mat', output(1:end - 4), k);
    job.stage = 'ratios';
    job.part = k;
    job.n_parts = n_parts;
    job.part_file = parts{k};
    save(job_file, '-struct', 'job', '-v7');
    generate_synthetic_source(job_file);
end
job.stage = 'finish';
job.part_files = parts(1:end - 1);
save(job_file, '-struct', 'job', '-v7');
try
    generate_synthetic_source(job_file);
    error('test:missed', 'finish must refuse an incomplete set of parts');
catch err
    assert(strcmp(err.identifier, 'generate_synthetic_source:parts'), err.message);
end
job.part_files = parts;
save(job_file, '-struct', 'job', '-v7');
generate_synthetic_source(job_file);
out = load(output);
end

function alpha = direct_alpha(data, fwd, region_id, target_snr)
% The published computation with the window max(peak-50, 1) : 500.
data = double(data);
shape = data(:, region_id(1)) / max(data(:, region_id(1)));
[~, peak] = max(shape);
data(:, region_id) = repmat(shape, 1, numel(region_id));
win = max(peak - 50, 1):size(data, 1);
others = setdiff(1:size(data, 2), region_id);
sig = fwd(:, region_id) * data(:, region_id)';
sig = sig - repmat(mean(sig, 2), 1, size(sig, 2));
noise = fwd(:, others) * data(:, others)';
noise = noise - repmat(mean(noise, 2), 1, size(noise, 2));
ps = norm(sig(:, win), 'fro')^2 / numel(win);
pn = norm(noise(:, win), 'fro')^2 / numel(win);
alpha = sqrt(10.^(target_snr / 10) * pn / ps);
end

function remove_folder(folder)
% Delete the test's temporary folder.
if exist(folder, 'dir')
    if exist('OCTAVE_VERSION', 'builtin')
        confirm_recursive_rmdir(false);
    end
    rmdir(folder, 's');
end
end

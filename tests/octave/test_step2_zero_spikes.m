function test_step2_zero_spikes()
%TEST_STEP2_ZERO_SPIKES A mean iteration without a clean spike writes its marker, no clip.
% Region r = 0 of 2; only region 1 (column 2) spikes.
root = step2_tmpdir();
try
    raw = fullfile(root, 'raw', 'a0');
    pieces = step2_write_raw(raw, 0, 0, step2_signal(2500, 2, [2 1250]), 2);
    lf = fullfile(root, 'lf.mat');
    save_mat_atomic(lf, struct('fwd', [1 0.2; 0.4 1]));
    clips = fullfile(root, 'nmm_zero');
    path = fullfile(clips, 'clip_info', 'iter0', 'iter_0_i_0.mat');
    job_file = fullfile(root, 'job.mat');
    save_mat_atomic(job_file, struct('raw_pieces', {{pieces}}, 'markers', {{path}}, ...
                                     'clip_pattern', fullfile(clips, 'a0', 'nmm_%d.mat'), ...
                                     'region', 0, 'columns', [1 2], 'leadfield', lf, ...
                                     'target_snr', 12, 'iterations', 0, 'seeds', 5));
    counts = process_region_nmm(job_file);
    assert(isequal(counts, 0));
    assert(strcmp(step2_mat_header(path), 'MATLAB 5.0 MAT-file'));
    info = load(path);
    assert(info.num_spike == 0);
    assert(isequal(size(info.spike_time), [1 0]));
    assert(isnan(info.alpha) && info.seed == 5 && info.target_snr == 12);
    assert(ischar(info.fingerprint) && isempty(info.fingerprint));   % none in the job
    assert(isempty(dir(fullfile(clips, 'a0', 'nmm_*.mat'))));
catch err
    step2_rmtree(root);
    rethrow(err);
end
step2_rmtree(root);
end

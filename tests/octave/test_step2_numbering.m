function test_step2_numbering()
%TEST_STEP2_NUMBERING Clip numbering across mean iterations, resuming, and MAT format.
% Region r = 1 (column 2) of 3, T = 3000 downsampled samples:
%   iteration 0: source bumps at 750 and 1750          -> 2 clips (nmm_1, nmm_2)
%   iteration 1: source bump at 1250, region 3 at 1000 -> rejected, 0 clips
%   iteration 2: source bump at 2250                   -> 1 clip (nmm_3)
% Markers: num_spike 2, 2, 3. A rerun changes no file; after deleting the
% marker of iteration 2 (and nmm_3) the rerun numbers on from 2 again.
p = deepsif_params();
root = step2_tmpdir();
try
    raw = fullfile(root, 'raw_nmm', 'a1');
    clips = fullfile(root, 'nmm_test');
    bumps = {[2 750; 2 1750], [2 1250; 3 1000], [2 2250]};
    ds = cell(1, 3);
    pieces = cell(1, 3);
    for m = 0:2
        ds{m + 1} = step2_signal(3000, 3, bumps{m + 1});
        pieces{m + 1} = step2_write_raw(raw, m, 1, ds{m + 1}, m + 2);
    end
    lf = fullfile(root, 'leadfield.mat');
    save_mat_atomic(lf, struct('fwd', [1 0.5 0.2; 0.3 1 0.4]));
    markers = {marker(clips, 0), marker(clips, 1), marker(clips, 2)};
    job = struct('raw_pieces', {pieces}, 'markers', {markers}, ...
                 'clip_pattern', fullfile(clips, 'a1', 'nmm_%d.mat'), 'region', 1, ...
                 'columns', [1 2 3], 'leadfield', lf, 'target_snr', 15, 'iterations', [0 1 2], ...
                 'seeds', [11 12 13], 'leadfield_id', 'sha256:toy', 'fingerprint', 'toy settings');
    job_file = fullfile(root, 'job.mat');
    save_mat_atomic(job_file, job);

    counts = process_region_nmm(job_file);
    assert(isequal(counts, [2 2 3]));
    a1 = fullfile(clips, 'a1');
    for n = 1:3
        assert(exist(fullfile(a1, sprintf('nmm_%d.mat', n)), 'file') == 2);
    end
    assert(exist(fullfile(a1, 'nmm_4.mat'), 'file') == 0);
    listing = dir(fullfile(a1, '*'));
    assert(sum(~[listing.isdir]) == 3);   % no stray temporary files
    expect_time = {[750 1750], zeros(1, 0), 2250};
    expect_num = [2 2 3];
    for m = 0:2
        info = load(marker(clips, m));
        assert(info.num_spike == expect_num(m + 1));
        assert(isequal(size(info.spike_time), size(expect_time{m + 1})));
        assert(isequal(info.spike_time, expect_time{m + 1}));
        assert(info.seed == 11 + m && info.target_snr == 15);
        assert(isnan(info.alpha) == (m == 1));
        assert(strcmp(info.fingerprint, 'toy settings'));
    end
    % clip content: nmm_2 is the clip 1501..2000 of iteration 0
    clip = load(fullfile(a1, 'nmm_2.mat'));
    % single precision, as the published step 2 keeps the raw data's
    assert(isa(clip.data, 'single') && isequal(size(clip.data), [500 3]));
    assert(isequal(clip.data(:, [1 3]), ds{1}(1501:2000, [1 3])));
    [~, at] = max(clip.data(:, 2));
    assert(at == 250);
    % with step 4's input: the clip at the sensors, and which lead field made it
    % (in double precision, from the single data as stored)
    assert(isa(clip.proj, 'double'));
    assert(max(max(abs(clip.proj - [1 0.5 0.2; 0.3 1 0.4] * double(clip.data)'))) < 1e-12);
    assert(strcmp(clip.proj_leadfield, 'sha256:toy'));
    info = load(marker(clips, 0));
    x = ds{1}(:, 2);
    want = (x(1750) - mean(x)) * info.alpha + mean(x);
    assert(clip.data(250, 2) == single(want));
    % every file written is a MATLAB-format MAT-file
    written = [strcat(a1, filesep, {'nmm_1.mat', 'nmm_2.mat', 'nmm_3.mat'}), ...
               {marker(clips, 0), marker(clips, 1), marker(clips, 2)}];
    for i = 1:numel(written)
        assert(strcmp(step2_mat_header(written{i}), 'MATLAB 5.0 MAT-file'));
    end
    % clips are stored uncompressed (-v6): read fast by step 4 and the pack
    for i = 1:3
        listing = dir(written{i});
        assert(listing.bytes >= 500 * 3 * 8, 'clip %s is compressed', written{i});
    end

    % rerun: nothing to do, no file changes
    before = snapshot(written);
    assert(isequal(process_region_nmm(job_file), [2 2 3]));
    assert(isequal(snapshot(written), before));

    % redo iteration 2 only: numbering continues from 2
    clip3 = load(fullfile(a1, 'nmm_3.mat'));
    delete(marker(clips, 2));
    delete(fullfile(a1, 'nmm_3.mat'));
    assert(isequal(process_region_nmm(job_file), [2 2 3]));
    again = load(fullfile(a1, 'nmm_3.mat'));
    assert(isequal(again.data, clip3.data));
    assert(exist(fullfile(a1, 'nmm_4.mat'), 'file') == 0);
    info = load(marker(clips, 2));
    assert(info.num_spike == 3 && isequal(info.spike_time, 2250));
    after = snapshot(written(1:2));
    assert(isequal(after, before(1:2, :)));
catch err
    step2_rmtree(root);
    rethrow(err);
end
step2_rmtree(root);
end

function path = marker(clips, m)
% Marker file of mean iteration M of region 1.
path = fullfile(clips, 'clip_info', sprintf('iter%d', m), sprintf('iter_%d_i_1.mat', m));
end

function snap = snapshot(files)
% Bytes and modification times of FILES (cell of paths).
snap = cell(numel(files), 2);
for i = 1:numel(files)
    fid = fopen(files{i}, 'r');
    snap{i, 1} = fread(fid, Inf, 'uint8=>uint8');
    fclose(fid);
    d = dir(files{i});
    snap{i, 2} = d.datenum;
end
end

function test_step2_scan()
%TEST_STEP2_SCAN Piece by piece, the scan finds what the joined signal gives.
% A noisy 7-column signal with spikes in every column, flat tops (runs of
% equal values above the threshold) placed across piece boundaries, one
% flat top longer than a piece, and columns that never reach the
% threshold, split into 2, 7 and 23 pieces (some shorter than a flat top).
% SCAN_RAW_ITERATION + THIN_PEAKS must give the peaks of FIND_SPIKE_PEAKS
% on the joined signal (LOAD_RAW_ITERATION, columns selected), the same
% column means, source column and projected background; SAVE_SPIKE_CLIPS
% the rows of the joined signal.
p = deepsif_params();
root = step2_tmpdir();
try
    n_t = 4000;
    n_c = 7;
    seed_rng(3);
    ds = 2 * randn(n_t, n_c);
    t = (1:n_t)';
    for c = 1:5
        for t0 = 150 + 37 * c:311 + 13 * c:n_t - 150
            ds(:, c) = ds(:, c) + 12 * exp(-(t - t0).^2 / 50);
        end
    end
    ds(1200:1210, 2) = 20;          % flat tops: 11 samples,
    ds(2000:2001, 3) = 15;          % 2 samples (left middle),
    ds(2500:3400, 4) = 30;          % longer than a piece of 23
    ds(2499, 4) = 31;
    ds(3401, 4) = 31;
    ds(:, 6) = 0.1 * ds(:, 6);      % never reaches 8 mV
    ds = double(single(ds));
    columns = [1 2 7 4 3 5];        % raw column 6 is not kept, 7 is
    col = 2;
    fwd = [1 0.5 0.2 0.1 0.3 0.7; 0.3 1 0.4 0.2 0.1 0.9; 0.2 0.2 0.2 0.5 0.6 0.1];
    for n_pieces = [2 7 23]
        files = step2_write_raw(fullfile(root, sprintf('raw%d', n_pieces)), 0, 1, ds, n_pieces);
        joined = load_raw_iteration(files, p);
        nmm = joined(:, columns);
        [want_t, want_c] = find_spike_peaks(nmm, p);
        % the vectorised maxima are LOCAL_MAXIMA of the thresholded signal
        v = nmm;
        v(v < p.spike_threshold_mv) = 0;
        assert(isequal(threshold_maxima(nmm, p.spike_threshold_mv), local_maxima(v)));
        scan = scan_raw_iteration(files, columns, col, fwd, p);
        [got_t, got_c] = thin_peaks(scan.peak_time, scan.peak_chan, scan.n_t, p);
        assert(scan.n_t == n_t);
        assert(isequal(got_t, want_t) && isequal(got_c, want_c));
        % every peak, before thinning: the same set, each once
        [r, c] = find(threshold_maxima(nmm, p.spike_threshold_mv));
        assert(isequal(sortrows([scan.peak_time, scan.peak_chan]), sortrows([r, c])));
        assert(any(scan.peak_time >= 2500 & scan.peak_time <= 3401 & scan.peak_chan == 4));
        assert(isequal(scan.source, nmm(:, col)));
        assert(max(abs(scan.col_mean - mean(nmm, 1))) < 1e-12);
        others = [1:col - 1, col + 1:numel(columns)];
        bg = nmm(:, others) * fwd(:, others)';
        assert(max(abs(scan.background(:) - bg(:))) < 1e-9);
        % the clips: rows of the joined signal, the source column replaced, proj on the sensors
        kept = [260 1490 2600 3300 3333];
        source = nmm(:, col) + 1;
        pattern = fullfile(root, sprintf('clips%d', n_pieces), 'nmm_%d.mat');
        save_spike_clips(files, scan, kept, source, columns, col, fwd, 'lf', pattern, 4, p);
        starts = clip_start(kept, p.clip_length);
        for j = 1:numel(kept)
            clip = load(sprintf(pattern, 4 + j));
            rows = starts(j) + (0:p.clip_length - 1);
            want = nmm(rows, :);
            want(:, col) = source(rows);
            assert(isa(clip.data, 'single') && isequal(clip.data, single(want)));
            assert(max(max(abs(clip.proj - fwd * double(clip.data)'))) < 1e-9);
            assert(strcmp(clip.proj_leadfield, 'lf'));
        end
        assert(exist(sprintf(pattern, 4), 'file') == 0 && exist(sprintf(pattern, 10), 'file') == 0);
    end
catch err
    step2_rmtree(root);
    rethrow(err);
end
step2_rmtree(root);
end

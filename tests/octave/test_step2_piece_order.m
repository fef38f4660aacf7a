function test_step2_piece_order()
%TEST_STEP2_PIECE_ORDER Raw pieces join in the order given, across piece boundaries.
% 12 pieces of 250 + k rows (3066 raw samples); column 1 holds the global
% raw sample index, column 2 the piece number. Given in time order, after
% dropping 1000 and keeping every 4th: column 1 = 1001:4:3066, although
% no piece length is a multiple of 4 (the selection runs on the global
% index, not piece by piece). The pieces are joined in the order of the
% list (putting them in time order is the job's task, not this function's),
% full or decimated (only the kept rows, with sample_index and raw_steps).
p = deepsif_params();
root = step2_tmpdir();
try
    full = fullfile(root, 'full');
    dec = fullfile(root, 'decimated');
    mkdir(full);
    mkdir(dec);
    files = cell(1, 12);
    decimated = cell(1, 12);
    rows = cell(1, 12);
    offset = 0;
    for k = 0:11
        n = 250 + k;
        g = offset + (1:n)';
        rows{k + 1} = [g, k * ones(n, 1)];
        name = sprintf('mean_iter_0_a_iter_3_%02d.mat', k);
        files{k + 1} = fullfile(full, name);
        save_mat_atomic(files{k + 1}, struct('data', single(rows{k + 1}), 'time', (g' - 1) * 0.5));
        keep = g > p.transient_samples & mod(g - p.transient_samples - 1, p.downsample_factor) == 0;
        decimated{k + 1} = fullfile(dec, name);
        save_mat_atomic(decimated{k + 1}, struct('data', single(rows{k + 1}(keep, :)), ...
                                                 'time', (g(keep)' - 1) * 0.5, ...
                                                 'sample_index', g(keep)', 'raw_steps', n));
        offset = offset + n;
    end

    % time order: every 4th sample after the transient, across all boundaries
    expected = (1001:4:3066)';
    [data, time] = load_raw_iteration(files, p);
    assert(isa(data, 'double') && isequal(size(data), [numel(expected) 2]));
    assert(isequal(data(:, 1), expected));
    assert(isequal(time, (expected - 1) * 0.5));
    assert(all(diff(data(:, 2)) >= 0));
    assert(isequal(unique(data(:, 2))', 3:11));   % pieces 0-2 (753 rows) are transient only
    % a column of file names (N x 1) works the same
    assert(isequal(load_raw_iteration(files', p), data));

    % decimated pieces (some empty, inside the transient) give the same rows
    [d_dec, t_dec] = load_raw_iteration(decimated, p);
    assert(isequal(d_dec, data) && isequal(t_dec, time));

    % another order: the pieces are joined as listed (here by name without
    % padding, 0 1 10 11 2 ... 9), never sorted
    order = [0 1 10 11 2 3 4 5 6 7 8 9] + 1;
    joined = vertcat(rows{order});
    want = joined(1001:4:end, :);
    [data, time] = load_raw_iteration(files(order), p);
    assert(isequal(data, want));
    assert(isequal(time, (want(:, 1) - 1) * 0.5));
    assert(any(diff(data(:, 2)) < 0), 'piece 2 follows piece 11 as listed');
    % reversed: the last piece first
    joined = vertcat(rows{end:-1:1});
    assert(isequal(load_raw_iteration(files(end:-1:1), p), joined(1001:4:end, :)));

    % a decimated piece left out of the list: its successor's sample_index
    % does not fit, an error rather than a silent gap
    assert(strcmp(raised_id(@() load_raw_iteration(decimated([1:5, 7:12]), p)), ...
                  'load_raw_iteration:index'));

    % no piece given
    assert(strcmp(raised_id(@() load_raw_iteration({}, p)), 'load_raw_iteration:none'));

    % a listed piece that is not on disk: an error naming it
    gone = fullfile(full, 'mean_iter_0_a_iter_3_12.mat');
    [id, msg] = raised_id(@() load_raw_iteration([files, {gone}], p));
    assert(strcmp(id, 'load_raw_iteration:missing') && ~isempty(strfind(msg, gone)));

    % pieces holding only the transient (pieces 0-2: 753 rows) are an error
    assert(strcmp(raised_id(@() load_raw_iteration(files(1:3), p)), 'load_raw_iteration:short'));
    assert(strcmp(raised_id(@() load_raw_iteration(decimated(1:3), p)), ...
                  'load_raw_iteration:short'));
catch err
    step2_rmtree(root);
    rethrow(err);
end
step2_rmtree(root);
end

function [id, msg] = raised_id(f)
% Identifier and message of the error that calling F raises ('' when none).
id = '';
msg = '';
try
    f();
catch err
    id = err.identifier;
    msg = err.message;
end
end

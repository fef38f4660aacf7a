function test_step2_piece_order()
%TEST_STEP2_PIECE_ORDER Raw pieces join in numeric order of k (10 after 2), padded or not.
% 12 pieces of 250 + k rows (3066 raw samples); column 1 holds the global
% raw sample index, column 2 the piece number. After dropping 1000 and
% keeping every 4th: column 1 = 1001:4:3066, whatever the order of names.
p = deepsif_params();
root = step2_tmpdir();
try
    for padded = [false true]
        folder = fullfile(root, sprintf('padded%d', padded));
        mkdir(folder);
        offset = 0;
        for k = 0:11
            n = 250 + k;
            g = offset + (1:n)';
            piece = struct('data', single([g, k * ones(n, 1)]), 'time', (g' - 1) * 0.5);
            if padded
                name = sprintf('mean_iter_0_a_iter_3_%02d.mat', k);
            else
                name = sprintf('mean_iter_0_a_iter_3_%d.mat', k);
            end
            save_mat_atomic(fullfile(folder, name), piece);
            offset = offset + n;
        end
        % files that are not pieces of (m = 0, r = 3)
        other = struct('data', single(-ones(5, 2)), 'time', zeros(1, 5));
        save_mat_atomic(fullfile(folder, 'mean_iter_0_a_iter_3_ds.mat'), other);
        save_mat_atomic(fullfile(folder, 'mean_iter_1_a_iter_3_0.mat'), other);
        save_mat_atomic(fullfile(folder, 'mean_iter_0_a_iter_30_0.mat'), other);

        files = raw_piece_files(folder, 0, 3);
        assert(numel(files) == 12);
        [~, last] = fileparts(files{end});
        [~, third] = fileparts(files{3});
        assert(~isempty(regexp(last, '_0?11$', 'once')));
        assert(~isempty(regexp(third, '_0?2$', 'once')));

        [data, time] = load_raw_iteration(folder, 0, 3, p);
        expected = (1001:4:3066)';
        assert(isa(data, 'double') && isequal(size(data), [numel(expected) 2]));
        assert(isequal(data(:, 1), expected));
        assert(isequal(time, (expected - 1) * 0.5));
        assert(all(diff(data(:, 2)) >= 0));
    end

    % no piece: a clear error naming the folder and the pattern
    empty = fullfile(root, 'empty');
    mkdir(empty);
    msg = '';
    try
        load_raw_iteration(empty, 2, 7, p);
    catch err
        msg = err.message;
    end
    assert(~isempty(strfind(msg, empty)) && ~isempty(strfind(msg, 'mean_iter_2_a_iter_7_')));

    % the same k twice (_7 and _07) is an error
    dup = fullfile(root, 'dup');
    mkdir(dup);
    save_mat_atomic(fullfile(dup, 'mean_iter_0_a_iter_0_7.mat'), other);
    save_mat_atomic(fullfile(dup, 'mean_iter_0_a_iter_0_07.mat'), other);
    id = '';
    try
        raw_piece_files(dup, 0, 0);
    catch err
        id = err.identifier;
    end
    assert(strcmp(id, 'raw_piece_files:duplicate'));

    % pieces shorter than the transient are an error (mean_iter_1_a_iter_3_0: 5 rows)
    id = '';
    try
        load_raw_iteration(fullfile(root, 'padded0'), 1, 3, p);
    catch err
        id = err.identifier;
    end
    assert(strcmp(id, 'load_raw_iteration:short'));
catch err
    step2_rmtree(root);
    rethrow(err);
end
step2_rmtree(root);
end

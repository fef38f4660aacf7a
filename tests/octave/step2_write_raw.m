function files = step2_write_raw(raw_dir, mean_iter, region, ds, n_pieces)
%STEP2_WRITE_RAW Write raw pieces whose step-2 downsampling gives back DS.
%   FILES = STEP2_WRITE_RAW(RAW_DIR, MEAN_ITER, REGION, DS, N_PIECES)
%   builds the raw signal [transient; each row of DS repeated
%   downsample_factor times] (the transient swings far above the spike
%   threshold, so keeping any of it would show), splits it into N_PIECES
%   pieces of unequal length and saves mean_iter_{m}_a_iter_{r}_{k}.mat,
%   k = 0.., with data (single) and time (1 x n, ms at 2 kHz). FILES is
%   the 1 x N_PIECES cell of their full paths, in time order (what a job
%   lists in raw_pieces).
p = deepsif_params();
n = size(ds, 2);
tt = (1:p.transient_samples)';
junk = 500 + 400 * sin(tt / 30) * ones(1, n);
raw = single([junk; kron(ds, ones(p.downsample_factor, 1))]);
edges = round(linspace(0, size(raw, 1), n_pieces + 1)) + [0, 3 * ones(1, n_pieces - 1), 0];
if exist(raw_dir, 'dir') ~= 7
    mkdir(raw_dir);
end
files = cell(1, n_pieces);
for k = 1:n_pieces
    rows = edges(k) + 1:edges(k + 1);
    piece = struct('data', raw(rows, :), 'time', (rows - 1) * 0.5);
    name = sprintf('mean_iter_%d_a_iter_%d_%d.mat', mean_iter, region, k - 1);
    files{k} = fullfile(raw_dir, name);
    save_mat_atomic(files{k}, piece);
end
end

function files = raw_piece_files(raw_dir, mean_iter, region)
%RAW_PIECE_FILES Raw TVB pieces of one region and mean iteration, in numeric order.
%   FILES = RAW_PIECE_FILES(RAW_DIR, MEAN_ITER, REGION) lists the files
%   mean_iter_{MEAN_ITER}_a_iter_{REGION}_{k}.mat of RAW_DIR, k a
%   non-negative integer, possibly zero-padded (_07), sorted by the
%   numeric value of k (never by name: piece 10 comes after piece 2).
%   Other files (e.g. a cached ..._ds.mat) are ignored. Errors when there
%   is no piece, or when two names give the same k (_7 and _07).
%
%   Inputs
%       RAW_DIR   : char, folder of the region's raw pieces.
%       MEAN_ITER : scalar, mean iteration m.
%       REGION    : scalar, 0-based region r.
%   Outputs
%       FILES : N x 1 cell of char, full paths, in order of k.
prefix = sprintf('mean_iter_%d_a_iter_%d_', mean_iter, region);
listing = dir(fullfile(raw_dir, [prefix '*.mat']));
names = {listing.name};
tokens = regexp(names, ['^' prefix '(\d+)\.mat$'], 'tokens', 'once');
is_piece = ~cellfun(@isempty, tokens);
names = names(is_piece);
if isempty(names)
    error('raw_piece_files:none', 'no raw pieces in %s matching %s<k>.mat', raw_dir, prefix);
end
k = cellfun(@(c) str2double(c{1}), tokens(is_piece));
if numel(unique(k)) < numel(k)
    error('raw_piece_files:duplicate', 'two raw pieces in %s share a piece number', raw_dir);
end
[~, order] = sort(k);
files = reshape(fullfile(raw_dir, names(order)), [], 1);
end

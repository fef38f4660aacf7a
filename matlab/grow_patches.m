function rows = grow_patches(r, g, centre, prm)
%GROW_PATCHES Candidate source patches of one centre region (region growing).
%   ROWS = GROW_PATCHES(R, G, CENTRE, PRM)
%     R      - the centre region, 1-based
%     G      - neighbour graph from NEIGHBOUR_GRAPH
%     CENTRE - N x 3 region centres (inflated cortex)
%     PRM    - DEEPSIF_PARAMS()
%   ROWS is K x PRM.max_patch_size: each row one patch, 0-based region ids,
%   the centre first, padded with PRM.pad_value. As published: layer 1 =
%   neighbours of R; layer 2 = their neighbours not yet included; growth
%   directions = the ceil(half) (PRM.direction_fraction) of the layer-1
%   neighbours closest in angle to the first one; PRM.patch_repetitions x
%   directions patches of 2 layers, then as many of 3 layers.
max_size = prm.max_patch_size;
nb1 = find(g.adj(r, :));
nb1(nb1 == r) = [];
inner = false(1, g.n);
inner([r nb1]) = true;
nb2 = find(any(g.adjt(:, nb1), 2)' & ~inner);
c0 = centre(r, :);
n1 = numel(nb1);
if n1 == 0
    % A region without neighbours cannot grow (the published script would
    % fail on it): its only candidate patch is the region itself.
    rows = pad_row(r - 1, max_size, prm.pad_value);
    return
end
v0 = bsxfun(@minus, centre(nb1, :), c0);
v0 = bsxfun(@rdivide, v0, sqrt(sum(v0.^2, 2)));
cos_theta = max(min(v0 * v0(1, :)', 1), -1);
angs = real(acos(cos_theta));
[~, order] = sort(angs);
dirs = order(1:ceil(n1 * prm.direction_fraction));
n_dir = numel(dirs);
reps = prm.patch_repetitions;
rows = zeros(2 * reps * n_dir, max_size);
row = 0;
% two layers: centre, layer 1, a direction-biased subset of layer 2
for rep = 1:reps
    for k = 1:n_dir
        v = v0(dirs(k), :);
        rg2 = nb2(select_by_direction(v, c0, centre(nb2, :), prm.direction_ratio, ...
                                      prm.layer2_bias));
        row = row + 1;
        rows(row, :) = finish_patch(g, [r nb1 rg2], prm);
    end
end
% three layers: layer 3 = neighbours of the kept layer-2 regions that are
% not the centre, layer 1 or kept layer 2 (as published, layer-2 regions
% that were not kept are candidates again here)
for rep = 1:reps
    for k = 1:n_dir
        v = v0(dirs(k), :);
        rg2 = nb2(select_by_direction(v, c0, centre(nb2, :), prm.direction_ratio, ...
                                      prm.layer2_bias_3));
        in3 = inner;
        in3(rg2) = true;
        nb3 = find(any(g.adjt(:, rg2), 2)' & ~in3);
        rg3 = nb3(select_by_direction(v, c0, centre(nb3, :), prm.direction_ratio, ...
                                      prm.layer3_bias));
        row = row + 1;
        rows(row, :) = finish_patch(g, [r nb1 rg2 rg3], prm);
    end
end
end

function out = finish_patch(g, current, prm)
% Smooth, drop the removed regions (order kept), make 0-based and pad.
[add_rg, rm_rg] = smooth_patch(g, current);
patch = [current add_rg];
drop = false(1, g.n);
drop(rm_rg) = true;
% the centre always stays first (it could only be dropped if it had a
% single neighbour)
drop(current(1)) = false;
patch = patch(~drop(patch));
if numel(patch) > prm.max_patch_size
    % The published script cannot store a patch longer than 70 regions (its
    % padding fails). Truncate to the first 70: the centre, layer 1, then the
    % outer layers in order, so the centre stays first.
    patch = patch(1:prm.max_patch_size);
end
out = pad_row(patch - 1, prm.max_patch_size, prm.pad_value);
end

function out = pad_row(ids, max_size, pad_value)
% Pad a row of region ids to max_size with pad_value.
out = [ids pad_value * ones(1, max_size - numel(ids))];
end

function test_step4_grow_patches()
%TEST_STEP4_GROW_PATCHES Candidate patches: centre first, no duplicates, padding.
prm = deepsif_params();
% torus: every region has 4 neighbours -> 2 directions -> 2 x 5 x 2 rows
[nbs, centre] = step4_torus(6, 6);
g = neighbour_graph(nbs);
seed_rng(11);
for r = 1:g.n
    rows = grow_patches(r, g, centre, prm);
    assert(size(rows, 1) == 2 * prm.patch_repetitions * 2);
    check_rows(rows, r, g.n, prm);
    % 2-layer patches lie within 3 steps of the centre (layer 2 + a filled
    % hole), 3-layer patches within 4
    hops = graph_hops(g, r);
    half = prm.patch_repetitions * 2;
    for k = 1:size(rows, 1)
        ids = rows(k, rows(k, :) ~= prm.pad_value) + 1;
        assert(all(hops(ids) <= 3 + (k > half)));
    end
end
% the same seed gives the same patches
seed_rng(5);
a = grow_patches(8, g, centre, prm);
seed_rng(5);
b = grow_patches(8, g, centre, prm);
assert(isequal(a, b));

% open grid 3 x 4 (4-neighbour, corners have 2 neighbours -> 1 direction)
nbs = grid_nbs(3, 4);
[cx, cy] = meshgrid(1:4, 1:3);
centre = 10 * [reshape(cx', [], 1), reshape(cy', [], 1), zeros(12, 1)];
g = neighbour_graph(nbs);
for r = 1:g.n
    rows = grow_patches(r, g, centre, prm);
    assert(size(rows, 1) == 2 * prm.patch_repetitions * ceil(numel(nbs{r}) / 2));
    check_rows(rows, r, g.n, prm);
end

% a region without neighbours: one patch, itself
nbs{13} = [];
centre(13, :) = [100 100 100];
g = neighbour_graph(nbs);
rows = grow_patches(13, g, centre, prm);
assert(isequal(rows, [12, prm.pad_value * ones(1, prm.max_patch_size - 1)]));

% a hub with 100 neighbours: patches are truncated to 70, centre first
n_ring = 100;
nbs = cell(1, n_ring + 1);
nbs{1} = 2:(n_ring + 1);
ang = 2 * pi * (0:(n_ring - 1))' / n_ring;
centre = [0 0 1; 10 * cos(ang), 10 * sin(ang), zeros(n_ring, 1)];
for k = 1:n_ring
    nbs{k + 1} = [1, mod(k - 2, n_ring) + 2, mod(k, n_ring) + 2];
end
g = neighbour_graph(nbs);
for r = [1 2 50]
    rows = grow_patches(r, g, centre, prm);
    check_rows(rows, r, g.n, prm);
end
rows = grow_patches(1, g, centre, prm);
assert(all(rows(:) ~= prm.pad_value), 'hub patches hold 101 regions, truncated to 70');
assert(all(rows(:, 1) == 0));
assert(all(all(rows(:, 2:end) == repmat(1:(prm.max_patch_size - 1), size(rows, 1), 1))));
disp('test_step4_grow_patches passed');
end

function check_rows(rows, r, n, prm)
% Centre first, 0-based ids of the template, no duplicates, padded at the end.
assert(size(rows, 2) == prm.max_patch_size);
assert(all(rows(:, 1) == r - 1), 'every patch starts with its centre');
for k = 1:size(rows, 1)
    row = rows(k, :);
    is_pad = row == prm.pad_value;
    m = sum(~is_pad);
    assert(m >= 1 && all(is_pad(m + 1:end)) && ~any(is_pad(1:m)), 'padding only at the end');
    ids = row(1:m);
    assert(all(ids >= 0 & ids < n & ids == round(ids)), 'ids of the template only');
    assert(numel(unique(ids)) == m, 'no duplicates');
end
end

function hops = graph_hops(g, r)
% Breadth-first number of steps from region r to every region.
hops = inf(g.n, 1);
hops(r) = 0;
frontier = r;
step = 0;
while ~isempty(frontier)
    step = step + 1;
    next = [g.nbs{frontier}];
    next = unique(next(isinf(hops(next))));
    hops(next) = step;
    frontier = next;
end
end

function nbs = grid_nbs(n_rows, n_cols)
% 4-neighbour lists of an open grid, region (i, j) = (i-1)*n_cols + j.
nbs = cell(1, n_rows * n_cols);
for i = 1:n_rows
    for j = 1:n_cols
        list = [];
        if i > 1
            list(end + 1) = (i - 2) * n_cols + j; %#ok<AGROW>
        end
        if i < n_rows
            list(end + 1) = i * n_cols + j; %#ok<AGROW>
        end
        if j > 1
            list(end + 1) = (i - 1) * n_cols + j - 1; %#ok<AGROW>
        end
        if j < n_cols
            list(end + 1) = (i - 1) * n_cols + j + 1; %#ok<AGROW>
        end
        nbs{(i - 1) * n_cols + j} = list;
    end
end
end

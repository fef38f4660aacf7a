function [nbs, centre] = step4_torus(n_rows, n_cols)
%STEP4_TORUS Toy geometry for the step-4 tests: a grid of regions on a torus.
%   [NBS, CENTRE] = STEP4_TORUS(N_ROWS, N_COLS) numbers region (i, j) as
%   (i-1)*N_COLS + j; each has the 4 grid neighbours (wrapping around), in
%   the order up, down, left, right, 1-based. CENTRE (N x 3) places the
%   regions on a torus of radii 30 and 10 (mm).
n = n_rows * n_cols;
nbs = cell(1, n);
centre = zeros(n, 3);
for i = 1:n_rows
    for j = 1:n_cols
        id = (i - 1) * n_cols + j;
        up = mod(i - 2, n_rows) + 1;
        down = mod(i, n_rows) + 1;
        left = mod(j - 2, n_cols) + 1;
        right = mod(j, n_cols) + 1;
        nbs{id} = [(up - 1) * n_cols + j, (down - 1) * n_cols + j, ...
                   (i - 1) * n_cols + left, (i - 1) * n_cols + right];
        u = 2 * pi * (i - 1) / n_rows;
        v = 2 * pi * (j - 1) / n_cols;
        centre(id, :) = [(30 + 10 * cos(v)) * cos(u), (30 + 10 * cos(v)) * sin(u), 10 * sin(v)];
    end
end
end

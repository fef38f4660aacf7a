function g = neighbour_graph(nbs)
%NEIGHBOUR_GRAPH Region neighbour lists as a sparse adjacency matrix.
%   G = NEIGHBOUR_GRAPH(NBS) takes NBS, a 1xN cell of 1-based neighbour
%   lists (the template's region mapping `nbs`), and returns a struct:
%     G.n    - number of regions (numel(NBS))
%     G.nbs  - the lists as 1xK double rows
%     G.adj  - N x N sparse double, adj(i, j) = 1 when j is listed in nbs{i}
%              (the lists need not be symmetric; none is assumed)
%     G.adjt - transpose of adj (column access is fast for sparse matrices)
%     G.deg  - N x 1, length of each list (as the published script counts it)
n = numel(nbs);
lists = cell(1, n);
deg = zeros(n, 1);
for i = 1:n
    lists{i} = double(nbs{i}(:)');
    deg(i) = numel(lists{i});
end
cols = [lists{:}];
if any(cols < 1 | cols > n | cols ~= round(cols))
    error('neighbour_graph:range', 'neighbour lists must hold 1-based region ids in 1..%d', n);
end
rows = repelem(1:n, deg');
adj = spones(sparse(rows, cols, 1, n, n));
g.n = n;
g.nbs = lists;
g.adj = adj;
g.adjt = adj';
g.deg = deg;
end

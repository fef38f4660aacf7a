function [add_rg, rm_rg] = smooth_patch(g, current)
%SMOOTH_PATCH Fill holes in a grown patch and find dangling regions.
%   [ADD_RG, RM_RG] = SMOOTH_PATCH(G, CURRENT) with G from NEIGHBOUR_GRAPH
%   and CURRENT a row of 1-based region ids (the patch so far):
%     ADD_RG - regions outside CURRENT that neighbour it and have all but
%              at most one of their neighbours inside CURRENT (holes),
%              ascending, 1 x K;
%     RM_RG  - regions of CURRENT with exactly one neighbour inside
%              CURRENT plus ADD_RG, in the order of CURRENT, 1 x M.
%   Same rule as the published smooth_region, written with logical masks
%   and sparse products instead of per-region intersect.
current = current(:)';
inside = false(g.n, 1);
inside(current) = true;
n_in = g.adj * double(inside);                 % neighbours inside, per region
touches = (g.adjt * double(inside)) > 0;       % listed as a neighbour of a region inside
add_mask = touches & ~inside & (n_in > g.deg - 2);
add_rg = find(add_mask)';
inside_after = inside | add_mask;
n_in_after = g.adj * double(inside_after);
rm_rg = current(n_in_after(current) == 1);
end

function test_step4_smooth_patch()
%TEST_STEP4_SMOOTH_PATCH Smoothing fills a hole and drops a dangling region.
[nbs, ~] = step4_torus(5, 5);
g = neighbour_graph(nbs);
id = @(i, j) (i - 1) * 5 + j;
% 3x3 block around (3,3) without its middle, plus (3,5) hanging on (3,4)
block = [id(2, 2) id(2, 3) id(2, 4) id(3, 2) id(3, 4) id(4, 2) id(4, 3) id(4, 4)];
current = [block id(3, 5)];
[add_rg, rm_rg] = smooth_patch(g, current);
assert(isequal(add_rg, id(3, 3)), 'the hole (3,3) must be added');
assert(isequal(rm_rg, id(3, 5)), 'the dangling (3,5) must be removed');
% a full block needs nothing
[add_rg, rm_rg] = smooth_patch(g, [block id(3, 3)]);
assert(isempty(add_rg) && isempty(rm_rg));
% removal is judged with the added regions inside: (3,3) is added, then
% (3,4)... all block regions keep at least 2 neighbours inside
[add_rg, rm_rg] = smooth_patch(g, block);
assert(isequal(add_rg, id(3, 3)) && isempty(rm_rg));
% two dangling regions are returned in the order of CURRENT
[~, rm_rg] = smooth_patch(g, [block id(5, 3) id(3, 5)]);
assert(isequal(rm_rg, [id(5, 3) id(3, 5)]));
% the published counts: an outside region with all but one neighbour
% inside is added (3 of 4 here)
[add_rg, ~] = smooth_patch(g, [id(2, 3) id(3, 2) id(3, 4)]);
assert(isequal(add_rg, id(3, 3)));
disp('test_step4_smooth_patch passed');
end

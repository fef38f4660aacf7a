function test_step4_clip_row_index()
%TEST_STEP4_CLIP_ROW_INDEX Packed clip rows on known counts.
counts = [2 0 5 1];
nper = 3;                                  % used: [2 0 3 1], offset [0 2 2 5 6]
[idx, n_rows, rows] = clip_row_index([0 0 2 2 2 3], [1 2 1 2 3 1], counts, nper);
assert(isequal(idx, [0 1 2 3 4 5]));
assert(n_rows == 6);
% the row table names the clip of each row, in row order
assert(isequal(rows, [0 1; 0 2; 2 1; 2 2; 2 3; 3 1]));
% shape follows the input
idx = clip_row_index([0 2; 3 2], [2 3; 1 1], counts, nper);
assert(isequal(idx, [1 4; 5 2]));
% a region without clips, a clip beyond min(count, nper), a bad region
assert(raises(@() clip_row_index(1, 1, counts, nper)));
assert(raises(@() clip_row_index(2, 4, counts, nper)));
assert(raises(@() clip_row_index(0, 3, counts, nper)));
assert(raises(@() clip_row_index(4, 1, counts, nper)));
assert(raises(@() clip_row_index(0, 0, counts, nper)));
% a negative count (unknown) counts as no clip
[idx, n_rows] = clip_row_index(2, 1, [1 -1 4], 10);
assert(idx == 1 && n_rows == 5);
disp('test_step4_clip_row_index passed');
end

function tf = raises(f)
% True when calling f raises an error.
tf = false;
try
    f();
catch
    tf = true;
end
end

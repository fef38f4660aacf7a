function test_step2_local_maxima()
%TEST_STEP2_LOCAL_MAXIMA Known answers of LOCAL_MAXIMA (strict peaks, flat tops, edges).
assert(isequal(find(local_maxima([1 3 2]')), 2));
% flat top of even length 2 (positions 2-3): the left middle one, 2
assert(isequal(find(local_maxima([1 3 3 2]')), 2));
% flat top of odd length 3 (positions 2-4): the middle, 3
assert(isequal(find(local_maxima([1 3 3 3 2]')), 3));
% flat top of length 4 (positions 2-5): floor((2 + 5) / 2) = 3
assert(isequal(find(local_maxima([0 5 5 5 5 0]')), 3));
% a plateau that rises further is no maximum; the higher sample is
assert(isequal(find(local_maxima([1 3 3 4 2]')), 4));
% the first and last samples and plateaus touching them never are
assert(~any(local_maxima([3 3 2 1]')));
assert(~any(local_maxima([1 2 3 3]')));
assert(~any(local_maxima([5 1 5]')));
assert(~any(local_maxima([7 7 7]')));
% a NaN neighbour stops a maximum
assert(isequal(find(local_maxima([1 3 NaN 2 1]')), zeros(0, 1)));
% short and empty inputs
assert(~any(local_maxima([1 2]')));
assert(isequal(size(local_maxima(zeros(0, 3))), [0 3]));
% columns are independent; output is T x C logical
x = [0 0; 2 1; 1 4; 0 4; 3 1; 0 0];
tf = local_maxima(x);
assert(islogical(tf) && isequal(size(tf), [6 2]));
assert(isequal(find(tf(:, 1)), [2; 5]));
assert(isequal(find(tf(:, 2)), 3));
end

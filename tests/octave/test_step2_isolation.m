function test_step2_isolation()
%TEST_STEP2_ISOLATION Clip start and the isolation rule [start-200, start+699].
p = deepsif_params();
assert(isequal(clip_start([1 499 500 501 999 1000 1250], 500), ...
               [1 1 501 501 501 1001 1001]));
% source column 2; its peak at 1250 starts its clip at 1001, so other
% channels must not peak in [801, 1700]
n_t = 3000;
assert(isequal(size(isolated_spikes([801 1250], [1 2], 2, n_t, p)), [1 0]));
assert(isequal(isolated_spikes([800 1250], [1 2], 2, n_t, p), 1250));
assert(isequal(size(isolated_spikes([1250 1700], [2 3], 2, n_t, p)), [1 0]));
assert(isequal(isolated_spikes([1250 1701], [2 3], 2, n_t, p), 1250));
% peaks of the source channel do not reject each other
assert(isequal(isolated_spikes([1250 1400], [2 2], 2, n_t, p), [1250 1400]));
% mixed: the first source peak is isolated, the second has a neighbour
assert(isequal(isolated_spikes([750 1250 1600], [2 2 1], 2, n_t, p), 750));
% the clip must fit in the signal: start 1001, end 1500
assert(isequal(size(isolated_spikes(1100, 2, 2, 1499, p)), [1 0]));
assert(isequal(isolated_spikes(1100, 2, 2, 1500, p), 1100));
% no peak at all
assert(isequal(size(isolated_spikes(zeros(1, 0), zeros(1, 0), 2, n_t, p)), [1 0]));
end

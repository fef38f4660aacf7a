function test_step4_select_by_direction()
%TEST_STEP4_SELECT_BY_DIRECTION Direction-biased selection of neighbours.
c0 = [0 0 0];
v = [1 0 0];
pts = [10 0 0; 0 10 0; 7 7 0; -10 0.0 0];   % |cos|: 1, 0, 0.707, 1
seed_rng(1);
for k = 1:50
    keep = select_by_direction(v, c0, pts, 1, 0);
    assert(keep(1) && keep(4), 'fully aligned (|cos| = 1) are always kept');
    assert(~keep(2), 'perpendicular (probability 0) is never kept');
end
hits = 0;
for k = 1:400
    keep = select_by_direction(v, c0, pts, 1, 0);
    hits = hits + keep(3);
end
assert(abs(hits / 400 - 0.7071) < 0.1, 'kept with probability = scaled |cos|');
keep = select_by_direction(v, c0, pts, 1, 1);
assert(all(keep), 'bias 1 keeps all');
keep = select_by_direction(v, c0, pts, 0, -0.1);
assert(~any(keep), 'negative probability keeps none');
% a single candidate: min-max scaling is 0/0, nothing kept (as published)
assert(~select_by_direction(v, c0, [10 0 0], 1, 0.1));
assert(isempty(select_by_direction(v, c0, zeros(0, 3), 1, 0)));
disp('test_step4_select_by_direction passed');
end

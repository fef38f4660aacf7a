function keep = select_by_direction(v, region_centre, points, ratio, bias)
%SELECT_BY_DIRECTION Randomly keep neighbour regions along a growth direction.
%   KEEP = SELECT_BY_DIRECTION(V, REGION_CENTRE, POINTS, RATIO, BIAS)
%   V is the 1x3 unit growth direction, REGION_CENTRE the 1x3 centre of the
%   patch's centre region, POINTS the Kx3 centres of the candidate regions.
%   The selection probability of each candidate is
%       RATIO * (min-max scaled |cos(angle to V)|) + BIAS
%   and a candidate is kept when rand < probability. KEEP is Kx1 logical.
%   When all |cos| are equal (e.g. a single candidate) the min-max scaling
%   is 0/0; the published script then compares rand with NaN, which keeps
%   nothing, and so does this function.
n_points = size(points, 1);
keep = false(n_points, 1);
if n_points == 0
    return
end
d = bsxfun(@minus, points, region_centre);
d = bsxfun(@rdivide, d, sqrt(sum(d.^2, 2)));
align = abs(d * v(:));
lo = min(align);
hi = max(align);
u = rand(n_points, 1);                          % drawn always, as published
if hi > lo
    prob = ratio * ((align - lo) / (hi - lo)) + bias;
    keep = u < prob;
end
end

function tf = threshold_maxima(x, threshold)
%THRESHOLD_MAXIMA Local maxima along time of each column after a threshold.
%   TF = THRESHOLD_MAXIMA(X, THRESHOLD) is LOCAL_MAXIMA(V), V being X with
%   the values below THRESHOLD set to 0 (step 2, item 5), computed for all
%   columns at once. THRESHOLD must be positive: every value of V is then
%   0 or at least THRESHOLD, so a run of zeros is never a maximum, and a
%   positive sample is one exactly when it is larger than both neighbours
%   and its run is one sample long. The columns holding a run of several
%   equal positive samples (a flat top, rare in a noisy signal) are handed
%   to LOCAL_MAXIMA, which places the maximum in the middle of the run.
%
%   Inputs
%       X         : T x C numeric, time x channels (single or double).
%       THRESHOLD : scalar > 0 (mV).
%   Outputs
%       TF : T x C logical, true at the local maxima of each column.
if ~(threshold > 0)
    error('threshold_maxima:threshold', 'the threshold must be positive, not %g', threshold);
end
v = x;
v(v < threshold) = 0;
n_t = size(v, 1);
tf = false(size(v));
if n_t < 3
    return
end
mid = v(2:n_t - 1, :);
tf(2:n_t - 1, :) = mid > v(1:n_t - 2, :) & mid > v(3:n_t, :);
flat = any(v(2:n_t, :) == v(1:n_t - 1, :) & v(2:n_t, :) > 0, 1);
if any(flat)
    tf(:, flat) = local_maxima(v(:, flat));
end
end

function tf = local_maxima(x)
%LOCAL_MAXIMA Local maxima along time (dimension 1) of each column.
%   TF = LOCAL_MAXIMA(X) stands in for MATLAB's ISLOCALMAX(X), which GNU
%   Octave lacks.
%
%   Inputs
%       X  : T x C numeric, time x channels.
%   Outputs
%       TF : T x C logical, true at the local maxima of each column.
%
%   Rule: a column is cut into runs of equal consecutive values. A run is
%   a maximum when the runs just before and just after it both hold
%   smaller values. A run of one sample marks that sample; a flat top
%   (a run of several equal samples) marks its middle sample, the left
%   one of the two middle samples when the run has an even length:
%   index floor((first + last) / 2). This follows ISLOCALMAX's default
%   FlatSelection 'center'. A run touching the first or the last sample
%   is never a maximum (no neighbour on one side), so the first and last
%   samples never are. NaN compares false, so a NaN is never a maximum
%   and a neighbouring NaN stops a run from being one.
[n_t, n_c] = size(x);
tf = false(n_t, n_c);
for c = 1:n_c
    v = x(:, c);
    starts = [1; find(v(2:end) ~= v(1:end - 1)) + 1];
    if n_t == 0 || numel(starts) < 3
        continue
    end
    stops = [starts(2:end) - 1; n_t];
    vals = v(starts);
    k = 2:numel(starts) - 1;
    is_max = vals(k) > vals(k - 1) & vals(k) > vals(k + 1);
    k = k(is_max);
    tf(floor((starts(k) + stops(k)) / 2), c) = true;
end
end

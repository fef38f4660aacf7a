function x = rescale_spikes(x, spike_time, alpha, p)
%RESCALE_SPIKES Multiply each spike of one channel by ALPHA between onset and end.
%   X = RESCALE_SPIKES(X, SPIKE_TIME, ALPHA, P) follows step 2, item 8:
%   the channel's time mean is removed; for each spike t (in order) the
%   window t - P.rescale_centre + (1:P.clip_length) is cut out, its onset
%   and end found by SPIKE_WINDOW_BOUNDS, the samples from onset to end
%   multiplied by ALPHA; the mean is added back. Windows of close spikes
%   may overlap; each spike sees the result of the earlier ones, as in
%   the published script. Samples that were not scaled keep their exact
%   input values (no mean round trip).
%
%   Inputs
%       X          : T x 1 double, the source channel (time).
%       SPIKE_TIME : 1 x K double, peak samples, each with a full window
%                    inside 1..T (true for FIND_SPIKE_PEAKS peaks).
%       ALPHA      : scalar scaling factor (SNR_SCALE_FACTOR).
%       P          : struct from DEEPSIF_PARAMS.
%   Outputs
%       X : T x 1 double, the rescaled channel.
if isempty(spike_time)
    return
end
m = mean(x);
xr = x - m;
scaled = false(size(x));
for i = 1:numel(spike_time)
    w = spike_time(i) - p.rescale_centre + (1:p.clip_length)';
    if w(1) < 1 || w(end) > numel(x)
        error('rescale_spikes:window', 'window of the spike at %d runs outside 1..%d', ...
              spike_time(i), numel(x));
    end
    [onset, stop] = spike_window_bounds(xr(w), p);
    seg = w(onset:stop);
    xr(seg) = xr(seg) * alpha;
    scaled(seg) = true;
end
x(scaled) = xr(scaled) + m;
end

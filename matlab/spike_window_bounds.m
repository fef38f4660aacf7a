function [onset, stop, trough, thr] = spike_window_bounds(sig, p)
%SPIKE_WINDOW_BOUNDS Onset and end of the spike in a window centred on its peak.
%   [ONSET, STOP, TROUGH, THR] = SPIKE_WINDOW_BOUNDS(SIG, P) follows step
%   2, item 8. Positions P.rescale_search(1)..P.rescale_search(2) of SIG
%   with |SIG| < THR are quiet, THR starting at P.rescale_threshold.
%   ONSET is the last quiet position before P.rescale_centre; while there
%   is none, THR is raised by P.rescale_threshold_step. TROUGH is the
%   position of the minimum of SIG over P.rescale_trough(1)..(2) (the
%   first one on ties). STOP is the first quiet position after TROUGH;
%   its search starts from the threshold the onset search ended with and
%   raises it the same way (as published).
%   Trough position: the published script writes min_ind + 301, one past
%   the minimum; here TROUGH is the true position of the minimum,
%   min_ind + P.rescale_trough(1) - 1, as the method states.
%
%   Inputs
%       SIG : L x 1 double, one window of the mean-removed source channel
%             (L = P.clip_length, the peak at position P.rescale_centre).
%       P   : struct from DEEPSIF_PARAMS.
%   Outputs
%       ONSET  : scalar, window position where the spike starts.
%       STOP   : scalar, window position where it ends.
%       TROUGH : scalar, window position of the after-spike minimum.
%       THR    : scalar, the threshold that found STOP.
lo = p.rescale_search(1);
hi = p.rescale_search(2);
sig = sig(:);
if ~all(isfinite(sig(lo:hi)))
    error('spike_window_bounds:notFinite', 'window holds NaN or Inf values');
end
pos = (lo:hi)';
thr = p.rescale_threshold;
quiet = pos(abs(sig(lo:hi)) < thr);
while ~any(quiet < p.rescale_centre)
    thr = thr + p.rescale_threshold_step;
    quiet = pos(abs(sig(lo:hi)) < thr);
end
before = quiet(quiet < p.rescale_centre);
onset = before(end);
[~, k] = min(sig(p.rescale_trough(1):p.rescale_trough(2)));
trough = k + p.rescale_trough(1) - 1;
while ~any(quiet > trough)
    thr = thr + p.rescale_threshold_step;
    quiet = pos(abs(sig(lo:hi)) < thr);
end
after = quiet(quiet > trough);
stop = after(1);
end

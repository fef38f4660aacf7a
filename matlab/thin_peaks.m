function [spike_time, spike_chan] = thin_peaks(peak_time, peak_chan, n_t, p)
%THIN_PEAKS Sort all (time, channel) peaks by time and keep the spaced ones.
%   [SPIKE_TIME, SPIKE_CHAN] = THIN_PEAKS(PEAK_TIME, PEAK_CHAN, N_T, P)
%   follows step 2, item 5, after the peaks are found: the peaks are
%   sorted by time (then by channel), and a peak is kept if
%   t - P.peak_margin_before > 0, t + P.peak_margin_after < N_T and it
%   lies more than P.min_peak_gap samples after the previous peak of the
%   sorted list of ALL peaks (the first peak passes that test). As in the
%   published script the gap is measured to the previous peak of the list
%   even when that peak was itself dropped.
%
%   Inputs
%       PEAK_TIME : vector, 1-based sample of every peak, any order.
%       PEAK_CHAN : vector, the 1-based channel of each.
%       N_T       : scalar, T, samples in the signal.
%       P         : struct from DEEPSIF_PARAMS.
%   Outputs
%       SPIKE_TIME : 1 x K double, the kept peaks, ascending.
%       SPIKE_CHAN : 1 x K double, their channels.
peaks = sortrows([double(peak_time(:)), double(peak_chan(:))]);
t = peaks(:, 1);
gap_ok = [true; diff(t) > p.min_peak_gap];
gap_ok = gap_ok(1:numel(t));
keep = (t - p.peak_margin_before > 0) & (t + p.peak_margin_after < n_t) & gap_ok;
spike_time = t(keep)';
spike_chan = peaks(keep, 2)';
end

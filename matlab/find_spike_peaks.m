function [spike_time, spike_chan] = find_spike_peaks(nmm, p)
%FIND_SPIKE_PEAKS Spike peaks of all channels, sorted by time and thinned.
%   [SPIKE_TIME, SPIKE_CHAN] = FIND_SPIKE_PEAKS(NMM, P) follows step 2,
%   item 5 of the method: values below P.spike_threshold_mv are set to 0,
%   local maxima along time are found in each channel (LOCAL_MAXIMA), all
%   (time, channel) peaks are sorted by time (then by channel), and a peak
%   is kept if t - P.peak_margin_before > 0, t + P.peak_margin_after < T
%   and it lies more than P.min_peak_gap samples after the previous peak
%   of the sorted list of ALL peaks (the first peak passes that test).
%   As in the published script the gap is measured to the previous peak
%   of the list even when that peak was itself dropped.
%
%   Inputs
%       NMM : T x C double, downsampled signal (time x regions, mV).
%       P   : struct from DEEPSIF_PARAMS.
%   Outputs
%       SPIKE_TIME : 1 x K double, 1-based sample index of each kept peak,
%                    ascending.
%       SPIKE_CHAN : 1 x K double, 1-based column of each kept peak.
n_t = size(nmm, 1);
times = cell(size(nmm, 2), 1);
chans = cell(size(nmm, 2), 1);
for c = 1:size(nmm, 2)
    v = nmm(:, c);
    v(v < p.spike_threshold_mv) = 0;
    t = find(local_maxima(v));
    times{c} = t;
    chans{c} = c * ones(numel(t), 1);
end
peaks = sortrows([vertcat(times{:}, zeros(0, 1)), vertcat(chans{:}, zeros(0, 1))]);
t = peaks(:, 1);
gap_ok = [true; diff(t) > p.min_peak_gap];
gap_ok = gap_ok(1:numel(t));
keep = (t - p.peak_margin_before > 0) & (t + p.peak_margin_after < n_t) & gap_ok;
spike_time = t(keep)';
spike_chan = peaks(keep, 2)';
end

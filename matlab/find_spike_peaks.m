function [spike_time, spike_chan] = find_spike_peaks(nmm, p)
%FIND_SPIKE_PEAKS Spike peaks of all channels, sorted by time and thinned.
%   [SPIKE_TIME, SPIKE_CHAN] = FIND_SPIKE_PEAKS(NMM, P) follows step 2,
%   item 5 of the method: values below P.spike_threshold_mv are set to 0,
%   local maxima along time are found in each channel (THRESHOLD_MAXIMA),
%   then the peaks are sorted and thinned (THIN_PEAKS: a peak is kept if
%   t - P.peak_margin_before > 0, t + P.peak_margin_after < T and it lies
%   more than P.min_peak_gap samples after the previous peak of the sorted
%   list of ALL peaks). Step 2 finds the peaks piece by piece
%   (SCAN_RAW_ITERATION) and thins them the same way.
%
%   Inputs
%       NMM : T x C single or double, downsampled signal (time x regions, mV).
%       P   : struct from DEEPSIF_PARAMS.
%   Outputs
%       SPIKE_TIME : 1 x K double, 1-based sample index of each kept peak,
%                    ascending.
%       SPIKE_CHAN : 1 x K double, 1-based column of each kept peak.
[t, c] = find(threshold_maxima(nmm, p.spike_threshold_mv));
[spike_time, spike_chan] = thin_peaks(t, c, size(nmm, 1), p);
end

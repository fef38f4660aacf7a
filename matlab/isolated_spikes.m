function kept = isolated_spikes(spike_time, spike_chan, source_col, n_samples, p)
%ISOLATED_SPIKES Peaks of the source channel with no other channel's peak near.
%   KEPT = ISOLATED_SPIKES(SPIKE_TIME, SPIKE_CHAN, SOURCE_COL, N_SAMPLES, P)
%   follows step 2, item 6: keep the peaks of channel SOURCE_COL; for each,
%   the clip starts at CLIP_START(t, P.clip_length), and the peak is
%   dropped if a peak of another channel (from the same thinned list,
%   as in the published script) falls in
%   [start - P.isolation_before, start + P.isolation_after], inclusive.
%   Peaks of the source channel never reject each other.
%   Project addition: a peak whose clip would run past the end of the
%   signal (start + P.clip_length - 1 > N_SAMPLES) is dropped too (the
%   published script would fail on it; with the standard lengths it
%   cannot happen).
%
%   Inputs
%       SPIKE_TIME : 1 x K double, peak samples from FIND_SPIKE_PEAKS.
%       SPIKE_CHAN : 1 x K double, their 1-based channels.
%       SOURCE_COL : scalar, 1-based column of the source region.
%       N_SAMPLES  : scalar, T, the length of the signal.
%       P          : struct from DEEPSIF_PARAMS.
%   Outputs
%       KEPT : 1 x N double, the kept source peaks (1 x 0 when none).
is_source = spike_chan == source_col;
others = spike_time(~is_source);
candidates = spike_time(is_source);
ok = false(1, numel(candidates));
for i = 1:numel(candidates)
    start = clip_start(candidates(i), p.clip_length);
    near = others >= start - p.isolation_before & others <= start + p.isolation_after;
    ok(i) = ~any(near) && start + p.clip_length - 1 <= n_samples;
end
kept = reshape(candidates(ok), 1, []);
end

function start = clip_start(spike_time, clip_length)
%CLIP_START First sample of the clip that holds each spike.
%   START = CLIP_START(SPIKE_TIME, CLIP_LENGTH) is
%   floor(SPIKE_TIME / CLIP_LENGTH) * CLIP_LENGTH + 1, the published
%   rule: clips sit on a fixed grid of CLIP_LENGTH samples. (As published,
%   a peak at an exact multiple of CLIP_LENGTH falls one sample before
%   its clip.)
%
%   Inputs
%       SPIKE_TIME  : 1 x K double, 1-based peak samples.
%       CLIP_LENGTH : scalar, samples per clip (P.clip_length).
%   Outputs
%       START : 1 x K double, 1-based first sample of each clip.
start = floor(spike_time / clip_length) * clip_length + 1;
end

function ratio = clip_scale_ratios(plan, heads, fwd, clip_pattern, prm)
%CLIP_SCALE_RATIOS Scale ratios of some (clip, patch) heads of a step-4 plan.
%   RATIO = CLIP_SCALE_RATIOS(PLAN, HEADS, FWD, CLIP_PATTERN, PRM)
%     PLAN     - from SYNTHESIS_PLAN (uses head_row, head_patch, clip_rows,
%                clip_counts, target_snr, leadfield_id)
%     HEADS    - indices into PLAN.head_row, ascending
%     FWD      - sensors x N lead field
%     CLIP_PATTERN - sprintf format of a clip file: %d for the region
%                (0-based), then %d for the clip number
%     PRM      - DEEPSIF_PARAMS()
%   RATIO (numel(HEADS) x K) for the K target SNRs. Each clip file is read
%   once and projected on the sensors once (PREPARE_CLIP_POWER), or not at
%   all when step 2 stored its projection `proj` made with this lead field
%   (`proj_leadfield` equal to PLAN.leadfield_id, not empty); every patch
%   drawn with it then costs a product of the patch columns only
%   (PATCH_SCALE_RATIO).
heads = heads(:);
pad = prm.pad_value;
rows = plan.head_row(heads);
ratio = zeros(numel(heads), numel(plan.target_snr));
if isempty(heads)
    return
end
starts = [1; find(diff(rows) ~= 0) + 1];
stops = [starts(2:end) - 1; numel(rows)];
n_clips = numel(starts);
step = max(1, ceil(n_clips / 10));
t_start = tic;
n_stored = 0;
for u = 1:n_clips
    row = rows(starts(u)) + 1;
    c = plan.clip_rows(row, 1) + 1;
    clip_file = sprintf(clip_pattern, c - 1, plan.clip_rows(row, 2));
    if ~exist(clip_file, 'file')
        error('generate_synthetic_source:clip', 'missing clip %s (clip_counts(%d) = %d)', ...
              clip_file, c, plan.clip_counts(c));
    end
    s = load(clip_file);
    if ~isfield(s, 'data')
        error('generate_synthetic_source:clip', 'clip %s has no variable data', clip_file);
    end
    proj = [];
    if isfield(s, 'proj') && isfield(s, 'proj_leadfield') && ~isempty(plan.leadfield_id) && ...
            strcmp(char(s.proj_leadfield), plan.leadfield_id)
        proj = s.proj;
        n_stored = n_stored + 1;
    end
    clip = prepare_clip_power(s.data, fwd, c, prm, proj);
    if ~(isfinite(clip.shape_energy) && clip.shape_energy > 0)
        error('generate_synthetic_source:clip', ...
              'clip %s has no positive spike in its region''s column: cannot scale it', clip_file);
    end
    for h = starts(u):stops(u)
        patch = plan.head_patch(heads(h), :);
        ratio(h, :) = patch_scale_ratio(clip, fwd, patch(patch ~= pad) + 1, plan.target_snr);
    end
    if mod(u, step) == 0 || u == n_clips
        fprintf('  scale ratios: %d / %d clips, %d with a stored projection (%.1f s)\n', ...
                u, n_clips, n_stored, toc(t_start));
    end
end
end

function generate_synthetic_source(job_file)
%GENERATE_SYNTHETIC_SOURCE Step 4: synthetic source parameters for DeepSIF.
%   GENERATE_SYNTHETIC_SOURCE(JOB_FILE) loads the job struct from the MAT
%   file JOB_FILE, with fields
%     inflated       - path of a file with `centre` (N x 3 region centres)
%     region_mapping - path of a file with `nbs` (1 x N cell, 1-based lists)
%     distances      - path of a file with `raw_dis_matrix` (N x N, mm)
%     leadfield      - path of a file with `fwd` (sensors x N)
%     leadfield_id   - optional: identity of that file; a clip's stored
%                      projection (step 2) is used when made with it
%     clip_pattern   - sprintf format of a clip file: clip n of region r
%                      (0-based) is sprintf(clip_pattern, r, n), with `data`
%                      (T x N)
%     clip_counts    - 1 x N, clips available per region (may be 0)
%     mode           - 'train' or 'test' (nper, n_iter, target SNRs from
%                      DEEPSIF_PARAMS)
%     seed           - seed of the random generators
%     output         - path of the MAT file to write
%     fingerprint    - optional: what made the file (JSON text), saved in it
%   and writes, for E = n_iter x (regions with clips) x 4 sensor-SNR levels
%   examples and S = n_sources sources:
%     selected_region (E x S x 70) patch region ids, 0-based, centre first,
%                     padded with 15213
%     random_samples  (E x S) clip number of the centre region, 1-based
%     nmm_idx         (E x S, int32) 0-based row of that clip in the packed
%                     array of used clips (CLIP_ROW_INDEX)
%     current_snr, sensor_snr (E x 1) sensor SNR level (dB)
%     scale_ratio     (E x S x target SNRs) source scaling factors
%     mag_change      (E x S x 70) Gaussian magnitude decay in the patch,
%                     padded with 15213
%     clip_rows       (rows x 2) [region 0-based, clip number] of every row
%                     of the packed clip file, in row order (CLIP_ROW_INDEX)
%     seed, clip_counts, dataset, fingerprint: what produced the file
%   Example order is the published script's actual output order: for each
%   centre region, for each variation, the 4 sensor-SNR levels.
%
%   Optional job fields split the work over processes (same file either way):
%     stage = 'plan'   - SYNTHESIS_PLAN only, saved to plan_file
%     stage = 'ratios' - the scale ratios of part `part` of `n_parts` of the
%                        plan in plan_file (clips split by packed row),
%                        saved to part_file
%     stage = 'finish' - the output from plan_file and the part files
%                        listed in part_files (char rows or cell)
%   Without `stage` all three run here, in one process.
job = load(job_file);
prm = deepsif_params();
stage = 'all';
if isfield(job, 'stage')
    stage = char(job.stage);
end
t_start = tic;
switch stage
    case 'all'
        plan = synthesis_plan(job, prm);
        heads = (1:numel(plan.head_row))';
        ratio = clip_scale_ratios(plan, heads, load_fwd(job), char(job.clip_pattern), prm);
        save_synthesis(plan, ratio, char(job.output), t_start);
    case 'plan'
        plan = synthesis_plan(job, prm);
        save_mat_atomic(char(job.plan_file), plan, '-v6');   % temporary: speed over size
    case 'ratios'
        plan = load(char(job.plan_file), 'head_row', 'head_patch', 'clip_rows', 'clip_counts', ...
                    'target_snr', 'leadfield_id');
        heads = part_heads(plan.head_row, double(job.part), double(job.n_parts));
        part.heads = heads;
        part.head_ratio = clip_scale_ratios(plan, heads, load_fwd(job), char(job.clip_pattern), ...
                                            prm);
        save_mat_atomic(char(job.part_file), part, '-v6');
    case 'finish'
        plan = load(char(job.plan_file));
        files = cellstr(job.part_files);
        ratio = nan(numel(plan.head_row), numel(plan.target_snr));
        for k = 1:numel(files)
            part = load(strtrim(files{k}));
            ratio(part.heads, :) = part.head_ratio;
        end
        if any(isnan(ratio(:)))
            error('generate_synthetic_source:parts', ...
                  'the part files cover %d of %d (clip, patch) pairs', ...
                  sum(~isnan(ratio(:, 1))), numel(plan.head_row));
        end
        save_synthesis(plan, ratio, char(job.output), t_start);
    otherwise
        error('generate_synthetic_source:stage', 'unknown stage %s', stage);
end
end

function heads = part_heads(head_row, part, n_parts)
% Heads of part PART (1-based) of N_PARTS: the clips are split into
% contiguous ranges of packed rows of about equal numbers of clips.
[rows, ~, which] = unique(head_row);
cut = floor((0:numel(rows) - 1)' * n_parts / numel(rows)) + 1;   % part of each clip
heads = find(cut(which) == part);
end

function fwd = load_fwd(job)
% The lead field of the job, sensors x N, double.
s = load(char(job.leadfield), 'fwd');
fwd = double(s.fwd);
end

function save_synthesis(plan, head_ratio, output, t_start)
% Write the step-4 file from PLAN and the ratios of its heads.
[n_ex, n_src, ~] = size(plan.selected_region);
out.selected_region = plan.selected_region;
out.nmm_idx = plan.nmm_idx;
out.random_samples = plan.random_samples;
out.current_snr = plan.current_snr;
out.sensor_snr = plan.sensor_snr;
out.scale_ratio = reshape(head_ratio(plan.pair_head, :), n_ex, n_src, size(head_ratio, 2));
out.mag_change = plan.mag_change;
out.clip_rows = plan.clip_rows;
out.seed = plan.seed;
out.clip_counts = plan.clip_counts;
out.dataset = plan.dataset;
out.leadfield = plan.leadfield;         % the lead field's file name: the trainer projects with it
out.leadfield_id = plan.leadfield_id;   % and its content ('sha256:...' of fwd)
out.fingerprint = plan.fingerprint;
[out_dir, ~, ~] = fileparts(output);
if ~isempty(out_dir) && ~exist(out_dir, 'dir')
    [ok, msg] = mkdir(out_dir);
    if ~ok && ~exist(out_dir, 'dir')   % another run may have made it meanwhile
        error('generate_synthetic_source:mkdir', 'could not create %s: %s', out_dir, msg);
    end
end
save_mat_atomic(output, out);
fprintf('step 4 done: %s (%d examples, %.1f s)\n', output, n_ex, toc(t_start));
end

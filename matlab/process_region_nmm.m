function counts = process_region_nmm(job_file)
%PROCESS_REGION_NMM Step 2 for one region: isolated, scaled spike clips from raw TVB output.
%   COUNTS = PROCESS_REGION_NMM(JOB_FILE) loads the job (a MAT-file) with
%   fields
%     raw_pieces   - 1 x M cell: for each mean iteration, a cell of the full
%                    paths of its raw pieces in time order
%     markers      - 1 x M cell: the full path of each mean iteration's marker
%     clip_pattern - sprintf format of the region's clip files, %d for the
%                    clip number (built by the Python Layout: no file name is
%                    built here)
%     region       - 0-based r
%     columns      - 1 x N, 1-based connectivity columns to keep, template order
%     leadfield    - a MAT-file with fwd, sensors x N
%     target_snr   - dB
%     iterations   - 1 x M mean iterations, in order
%     seeds        - 1 x M, stored in the markers
%     fingerprint  - optional: what made the clips (JSON text), stored in the markers
%     leadfield_id - optional: identity of the lead field ('' if absent)
%     clips_needed - optional: the clips after which the run simulates no
%                    further mean iteration (Inf: all of them, the default),
%                    stored in the markers
%   For each mean iteration m, in order: when its marker exists, its
%   num_spike is read and m is skipped. Otherwise the raw pieces are read
%   one at a time (SCAN_RAW_ITERATION: the peaks of every column, the
%   column means, the source column and the background projected on the
%   sensors; never the whole T x N signal), the isolated spikes of column
%   r + 1 kept (THIN_PEAKS, ISOLATED_SPIKES), the source rescaled
%   (SNR_WINDOW, SNR_POWER_RATIO, RESCALE_SPIKES), and the pieces that
%   hold clip samples read again, one at a time, to save the clips
%   (SAVE_SPIKE_CLIPS) as sprintf(clip_pattern, n) (data, 500 x N single,
%   as the published step 2 keeps the raw data's single precision;
%   proj = fwd * data', sensors x 500 double, the clip at the sensors, for
%   step 4; proj_leadfield = leadfield_id, which lead field made proj), n numbered on from
%   the previous iteration's num_spike, and LAST the marker written with
%   num_spike (total so far), spike_time (1 x K), seed, target_snr,
%   alpha (NaN without spike), clips_needed and fingerprint. Every file goes through
%   SAVE_MAT_ATOMIC.
%
%   Outputs
%       COUNTS : 1 x M double, the region's clip total after each
%                iteration.
p = deepsif_params();
job = load(job_file);
check_job(job, job_file);
r = double(job.region);
test_hold('step2-started', r);
col = r + 1;
columns = double(job.columns(:)');
iterations = double(job.iterations(:)');
seeds = double(job.seeds(:)');
target_snr = double(job.target_snr);
lf_id = '';
if isfield(job, 'leadfield_id')
    lf_id = char(job.leadfield_id);
end
clips_needed = Inf;
if isfield(job, 'clips_needed')
    clips_needed = double(job.clips_needed);
end
made_with = '';
if isfield(job, 'fingerprint')
    made_with = char(job.fingerprint);
end
clip_pattern = char(job.clip_pattern);
fwd = [];
prev = 0;
counts = zeros(1, numel(iterations));
for i = 1:numel(iterations)
    m = iterations(i);
    marker = char(job.markers{i});
    if exist(marker, 'file') == 2
        done = load(marker, 'num_spike');
        prev = double(done.num_spike);
        counts(i) = prev;
        fprintf('iter %d region %d: done before (total %d)\n', m, r, prev);
        continue
    end
    if isempty(fwd)
        fwd = load_leadfield(job.leadfield, numel(columns));
    end
    pieces = job.raw_pieces{i};
    scan = scan_raw_iteration(pieces, columns, col, fwd, p);
    [spike_time, spike_chan] = thin_peaks(scan.peak_time, scan.peak_chan, scan.n_t, p);
    kept = isolated_spikes(spike_time, spike_chan, col, scan.n_t, p);
    alpha = NaN;
    if ~isempty(kept)
        window = snr_window(kept, scan.n_t, p);
        alpha = snr_power_ratio(scan.source, scan.background, window, scan.col_mean, fwd, col, ...
                                target_snr);
        source = rescale_spikes(scan.source, kept, alpha, p);
        save_spike_clips(pieces, scan, kept, source, columns, col, fwd, lf_id, clip_pattern, ...
                         prev, p);
    end
    total = prev + numel(kept);
    info = struct('num_spike', total, 'spike_time', reshape(kept, 1, []), ...
                  'seed', seeds(i), 'target_snr', target_snr, 'alpha', alpha, ...
                  'clips_needed', clips_needed, 'fingerprint', made_with);
    ensure_dir(fileparts(marker));
    save_mat_atomic(marker, info);
    if numel(kept) == 1
        word = 'clip';
    else
        word = 'clips';
    end
    fprintf('iter %d region %d: %d %s (total %d)\n', m, r, numel(kept), word, total);
    prev = total;
    counts(i) = total;
end
end

function check_job(job, job_file)
% Error naming the first missing job field.
needed = {'raw_pieces', 'markers', 'clip_pattern', 'region', 'columns', 'leadfield', ...
          'target_snr', 'iterations', 'seeds'};
for i = 1:numel(needed)
    if ~isfield(job, needed{i})
        error('process_region_nmm:job', 'job file %s has no field %s', job_file, needed{i});
    end
end
n_it = numel(job.iterations);
if numel(job.seeds) ~= n_it || numel(job.markers) ~= n_it || numel(job.raw_pieces) ~= n_it
    error('process_region_nmm:job', ...
          'job file %s: %d seeds, %d markers, %d piece lists for %d iterations', ...
          job_file, numel(job.seeds), numel(job.markers), numel(job.raw_pieces), n_it);
end
end

function fwd = load_leadfield(path, n_regions)
% Lead field fwd (sensors x regions) as double, checked against the region count.
lf = load(path, 'fwd');
if ~isfield(lf, 'fwd')
    error('process_region_nmm:leadfield', 'lead field file %s has no variable fwd', path);
end
fwd = double(lf.fwd);
if size(fwd, 2) ~= n_regions
    error('process_region_nmm:leadfield', 'lead field %s has %d regions, columns give %d', ...
          path, size(fwd, 2), n_regions);
end
end

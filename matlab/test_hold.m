function test_hold(point, region)
%TEST_HOLD Test-only: hold at a named point until the test releases it.
%   TEST_HOLD(POINT, REGION) does nothing unless the environment variable
%   DEEPSIF_TEST_HOLD is POINT or POINT@REGION and DEEPSIF_TEST_HOLD_DIR
%   names a folder: it then writes POINT.reached there (the region) and
%   waits until POINT.release exists there, or until the process is
%   stopped. The same protocol as deepsif_pipeline/processes/testhook.py.
asked = getenv('DEEPSIF_TEST_HOLD');
folder = getenv('DEEPSIF_TEST_HOLD_DIR');
if isempty(asked) || isempty(folder)
    return
end
if ~(strcmp(asked, point) || strcmp(asked, sprintf('%s@%d', point, region)))
    return
end
tmp = fullfile(folder, sprintf('.%s.reached.m', point));
fid = fopen(tmp, 'w');
fprintf(fid, 'octave %d\n', region);
fclose(fid);
movefile(tmp, fullfile(folder, [point '.reached']));
release = fullfile(folder, [point '.release']);
while ~exist(release, 'file')
    pause(0.02);
end
end

function ensure_dir(folder)
%ENSURE_DIR Create FOLDER (and its parents) when missing.
%   ENSURE_DIR(FOLDER): another run sharing the output folder may create
%   it, or one of its parents, at the same moment; mkdir then fails with
%   'File exists' part way: it is tried again.
msg = '';
for attempt = 1:5
    if exist(folder, 'dir') == 7
        return
    end
    [ok, msg] = mkdir(folder);
    if ok
        return
    end
end
error('process_region_nmm:mkdir', 'could not create %s: %s', folder, msg);
end

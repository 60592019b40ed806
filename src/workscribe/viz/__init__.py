"""Pictures for people: contact sheets of actions drawn on the frames they were taken on."""
